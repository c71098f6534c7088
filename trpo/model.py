"""Actor and critic networks, as on the slides (2 tanh hidden layers each), and the
running observation normalizer of the tuned preset."""
import copy

import numpy as np
import torch
import torch.nn as nn

from trpo.distributions import Categorical, Gaussian


class RunningNorm(nn.Module):
    """x -> clip((x - mean) / sqrt(var + 1e-8), -clip, clip), mean and var over every state seen so far.

    The statistics are buffers, so they travel in state_dict: model.pth and
    checkpoint.pth carry them, and test.py normalizes exactly as training did.
    """

    def __init__(self, size, clip=10.0):
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("var", torch.ones(size, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x):
        """Merge the batch x (T, size) into the statistics (Chan et al.'s parallel mean and variance)."""
        x = x.double()
        n, mean, var = len(x), x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.var.copy_((self.var * self.count + var * n + delta ** 2 * self.count * n / total) / total)
        self.mean.add_(delta * n / total)
        self.count.copy_(total)

    def merged(self, x):
        """A copy with the batch x merged in; self is unchanged."""
        other = copy.deepcopy(self)
        other.update(x)
        return other

    def std(self):
        """sqrt(var + 1e-8), the divisor forward() uses (float64)."""
        return torch.sqrt(self.var + 1e-8)

    def forward(self, x):
        z = (x - self.mean.to(x.dtype)) / self.std().to(x.dtype)
        return z.clamp(-self.clip, self.clip)


@torch.no_grad()
def orthogonal_init(*layers, gain=2 ** 0.5):
    """Orthogonal weights (scaled by gain) and zero biases, as in the tuned preset of
    Stable-Baselines3 and Tianshou (see Andrychowicz et al. 2021, 'What matters in on-policy RL')."""
    for layer in layers:
        nn.init.orthogonal_(layer.weight, gain=gain)
        nn.init.zeros_(layer.bias)


class Actor(nn.Module):
    """Gaussian policy pi_theta(a|s) = N(mu_theta(s), std^2), or with discrete=True the
    categorical policy pi_theta(a|s) = softmax(logits_theta(s))_a over action_size actions.

    As on the slides std is fixed at exp(0) = 1, so that exploration never shrinks.
    learn_std=True makes log std a learned, state-independent parameter (starting at
    log_std_init); normalize_obs=True puts a RunningNorm in front of the network.
    On Pendulum (state 3, action 1, hidden 64) the slides' actor has 4,481 parameters.
    A categorical actor has no std: learn_std and log_std_init do not apply to it.
    """

    def __init__(self, state_size, action_size, hidden_size=64, learn_std=False, log_std_init=0.0,
                 normalize_obs=False, ortho_init=False, discrete=False):
        super().__init__()
        self.discrete = discrete
        self.obs_norm = RunningNorm(state_size) if normalize_obs else nn.Identity()
        self.fc1 = nn.Linear(state_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, action_size)
        if ortho_init:  # the output layer 100x smaller still: every first policy is near mean 0 (uniform)
            orthogonal_init(self.fc1, self.fc2, self.fc3)
            self.fc3.weight.data.mul_(0.01)
        if discrete:
            return
        log_std = torch.full((action_size,), float(log_std_init))
        if learn_std:
            self.log_std = nn.Parameter(log_std)
        else:  # not saved: a fixed std is rebuilt from log_std_init (model.pth of the slides' actor stay as they were)
            self.register_buffer("log_std", log_std, persistent=False)

    def forward(self, x):
        """x: (T, state_size) -> Gaussian(mu, std), each (T, action_size), so `mu, std = actor(x)`
        as on the slides; or Categorical(logits), (T, action_size)."""
        x = self.obs_norm(x)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return policy(self.fc3(x), None if self.discrete else torch.exp(self.log_std))

    def frozen(self):
        """A FrozenActor: these weights, as they are now, for sampling a batch without autograd."""
        return FrozenActor(self)


def policy(out, std):
    """The policy of the last layer's output (T, action_size): Categorical(logits) for std None, else
    Gaussian(mu, std) with std (action_size,) the same for every state."""
    return Categorical(out) if std is None else Gaussian(out, std.expand_as(out))


class FrozenActor:
    """The actor's weights at one moment, with its forward pass in NumPy and no autograd: what the sampler
    calls once per environment step (Actor.frozen() makes one per batch).

    The network is the Actor's: its layers' weights and the observation statistics, copied, and the same
    tanh-tanh-linear pass; the policy it returns is built by the same function (policy), so actions come
    from get_action as on the slides. On networks this small a torch call costs more in dispatch than in
    arithmetic, and NumPy's calls are lighter (docs/performance.md). mu (or the logits) equal the Actor's
    to float32 rounding (tests/test_model.py).
    """

    def __init__(self, actor):
        with torch.no_grad():
            self.layers = [(fc.weight.T.numpy().copy(), fc.bias.numpy().copy())
                           for fc in (actor.fc1, actor.fc2, actor.fc3)]
            self.norm = None
            if isinstance(actor.obs_norm, RunningNorm):
                norm = actor.obs_norm
                self.norm = norm.mean.float().numpy(), norm.std().float().numpy(), norm.clip
            self.std = None if actor.discrete else torch.exp(actor.log_std).clone()

    def __call__(self, states):
        """states: (T, state_size) array -> the policy pi(.|s): Gaussian(mu, std) or Categorical(logits), as Actor."""
        x = states.astype(np.float32)
        if self.norm is not None:
            mean, std, clip = self.norm
            x = np.clip((x - mean) / std, -clip, clip)
        (w1, b1), (w2, b2), (w3, b3) = self.layers
        x = np.tanh(x @ w1 + b1)
        x = np.tanh(x @ w2 + b2)
        return policy(torch.from_numpy(x @ w3 + b3), self.std)


class Critic(nn.Module):
    """State-value function V_phi(s). obs_norm: the actor's RunningNorm, shared, or None.

    scale_rewards=True gives it return_norm, a RunningNorm of the discounted returns
    seen so far: the critic then learns the values of rewards / std(return) (tuned preset).
    """

    def __init__(self, state_size, hidden_size=64, obs_norm=None, scale_rewards=False, ortho_init=False):
        super().__init__()
        self.obs_norm = obs_norm if obs_norm is not None else nn.Identity()
        self.return_norm = RunningNorm(1) if scale_rewards else None
        self.fc1 = nn.Linear(state_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, 1)
        if ortho_init:
            orthogonal_init(self.fc1, self.fc2)
            orthogonal_init(self.fc3, gain=1.0)

    def forward(self, x):
        """x: (T, state_size) -> value: (T, 1)."""
        x = self.obs_norm(x)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)
