import sys, torch
sys.path.insert(0, sys.argv[1])
from trpo.model import Critic
torch.manual_seed(0)
out = {}
for name, (S, H, T, epochs, bs) in {'slides Pendulum (1 step, whole batch)': (3, 64, 2200, 1, 0), 'tuned Hopper (20 epochs of 64)': (11, 256, 1024, 20, 64)}.items():
    torch.manual_seed(1)
    critic = Critic(S, H); x = torch.randn(T, S); y = torch.randn(T)
    opt = torch.optim.Adam(critic.parameters(), lr=3e-4, fused=True)
    g = torch.Generator().manual_seed(5)
    if sys.argv[2] == 'old':
        from trpo.critic_fit import fit_critic_layers
        fit_critic_layers(critic, opt, x, y, epochs, bs, g)
    else:
        from trpo.utils import update_critic
        update_critic(critic, opt, x, y, epochs, bs, g)
    out[name] = {k: v.clone() for k, v in critic.state_dict().items()}
torch.save(out, f'/tmp/fb/critic_{sys.argv[2]}.pt')
