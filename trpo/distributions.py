"""The two policy distributions an Actor outputs: Gaussian (Box actions, the slides') and Categorical
(Discrete actions). Each is a NamedTuple of its parameters, so `mu, std = actor(states)` reads as on
the slides; the six steps call the same methods on either, so the update is written once.
"""
import math
from typing import NamedTuple

import torch
from torch.distributions import Normal


class Gaussian(NamedTuple):
    """N(mu, diag(std^2)) per state; mu, std: (T, action_size). Actions: (T, action_size) floats."""
    mu: torch.Tensor
    std: torch.Tensor

    def sample(self):
        """a = mu + std * eps, eps ~ N(0, I): the slides' Normal(mu, std).sample()."""
        return self.mu + self.std * torch.randn_like(self.mu)

    def mode(self):
        """The deterministic action: the mean mu."""
        return self.mu

    def log_prob(self, actions):
        """log pi(a|s) = sum_j [ -log sqrt(2 pi) - log std_j - (a_j - mu_j)^2 / (2 std_j^2) ], (T,)."""
        return Normal(self.mu, self.std).log_prob(actions).sum(-1)

    def entropy(self):
        """H = sum_j [ 1/2 + 1/2 log(2 pi) + log std_j ], (T,)."""
        return (0.5 + 0.5 * math.log(2 * math.pi) + torch.log(self.std)).sum(-1)

    def kl(self, other):
        """KL(self || other) = sum_j [ log(std'_j / std_j) + (std_j^2 + (mu_j - mu'_j)^2) / (2 std'_j^2) - 1/2 ], (T,)."""
        mu, std = other
        return (torch.log(std / self.std) + (self.std.pow(2) + (self.mu - mu).pow(2)) / (2.0 * std.pow(2))
                - 0.5).sum(-1)

    def fisher_outputs(self):
        """The outputs the Fisher matrix is a metric on: mu, and std when it depends on theta."""
        return [self.mu, self.std] if self.std.requires_grad else [self.mu]

    def fisher_metric(self, jps, n):
        """M (J p) / n per state, for the outputs of fisher_outputs: the KL's Hessian in (mu, std)
        at pi_old is diag(1 / std^2) for mu and diag(2 / std^2) for std."""
        std2 = self.std.detach() ** 2
        return [scale / (std2 * n) * jp for scale, jp in zip((1.0, 2.0), jps)]

    def detach(self):
        """The same policy cut from the graph: pi_old in the KL."""
        return Gaussian(self.mu.detach(), self.std.detach())


class Categorical(NamedTuple):
    """pi(a|s) = softmax(logits)_a per state; logits: (T, n). Actions: (T,) action indices (any dtype)."""
    logits: torch.Tensor

    def sample(self):
        """a ~ softmax(logits), (T,) int64."""
        return torch.multinomial(self.logits.softmax(-1), 1).squeeze(-1)

    def mode(self):
        """The deterministic action: argmax_a pi(a|s)."""
        return self.logits.argmax(-1)

    def log_prob(self, actions):
        """log pi(a|s) = logits_a - log sum_b exp(logits_b), (T,)."""
        return self.logits.log_softmax(-1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self):
        """H = -sum_a p_a log p_a, (T,)."""
        log_p = self.logits.log_softmax(-1)
        return -(log_p.exp() * log_p).sum(-1)

    def kl(self, other):
        """KL(self || other) = sum_a p_a (log p_a - log p'_a), (T,)."""
        log_p = self.logits.log_softmax(-1)
        return (log_p.exp() * (log_p - other.logits.log_softmax(-1))).sum(-1)

    def fisher_outputs(self):
        """The outputs the Fisher matrix is a metric on: the logits."""
        return [self.logits]

    def fisher_metric(self, jps, n):
        """M (J p) / n per state: the KL's Hessian in the logits at pi_old is diag(p) - p p^T."""
        p = self.logits.detach().softmax(-1)
        v, = jps
        return [(p * v - p * (p * v).sum(-1, keepdim=True)) / n]

    def detach(self):
        """The same policy cut from the graph: pi_old in the KL."""
        return Categorical(self.logits.detach())
