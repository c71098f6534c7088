"""Fixed-batch comparison: run one train_model on saved batches/weights with the code on sys.path[0]; save the results."""
import sys, copy, inspect
import torch
sys.path.insert(0, sys.argv[1])
import trpo
from trpo.config import TrainConfig
from trpo.trainer import update_options, start_run
from trpo.sampler import LocalSampler
from trpo.update import train_model, update_running_stats
from trpo.envs import env_sizes, auto_num_envs
from trpo.sampler import steps_per_sampler

mode = sys.argv[2]  # make | run
out = {}
cases = [('slides', 'Pendulum-v1'), ('tuned', 'Pendulum-v1'), ('tuned', 'Hopper-v5'), ('tuned', 'CartPole-v1')]
if mode == 'make':
    data = {}
    for preset, env in cases:
        torch.manual_seed(7)
        c = TrainConfig(env_name=env, preset=preset, seed=7).resolved()
        c = c.replace(num_envs=auto_num_envs(c.env_name, steps_per_sampler(c), c.num_envs))
        s = LocalSampler(c)
        ss, a, d = env_sizes(s)
        class Q:  # console
            def print(self, *x): pass
        actor, critic, opt, _ = start_run(c, ss, a, d, None, Q())
        batches = []
        for it in range(3):  # three batches: the third one with warmed-up running statistics
            r = s.collect(actor, seed=7 if it == 0 else None)
            batches.append(r.batch)
            if it < 2:
                update_running_stats(actor, critic, r.batch, c.gamma)
        data[(preset, env)] = dict(batch=batches[-1], actor=copy.deepcopy(actor.state_dict()), critic=copy.deepcopy(critic.state_dict()), cfg=c)
    torch.save(data, '/tmp/fb/batches.pt')
    sys.exit()
data = torch.load('/tmp/fb/batches.pt', weights_only=False)
for key, d in data.items():
    c = d['cfg']
    ss = d['batch'].states.shape[1]
    discrete = key[1] == 'CartPole-v1'
    class Q:
        def print(self, *x): pass
    actor, critic, opt, _ = start_run(c, ss, 2 if discrete else d['batch'].actions.shape[1], discrete, None, Q())
    actor.load_state_dict(d['actor']); critic.load_state_dict(d['critic'])
    opts = update_options(c)._replace(critic_epochs=1, critic_batch_size=0)  # whole-batch critic step: no shuffles
    info = train_model(actor, critic, opt, d['batch'], c.gamma, c.max_kl, opts)
    out[key] = dict(actor={k: v.clone() for k, v in actor.state_dict().items()}, critic={k: v.clone() for k, v in critic.state_dict().items()}, info=info)
    print(key, info)
torch.save(out, f'/tmp/fb/result_{sys.argv[3]}.pt')
