"""Actor and critic networks, as on the slides (2 tanh hidden layers each)."""
import torch
import torch.nn as nn


class Actor(nn.Module):
    """Gaussian policy pi_theta(a|s) = N(mu_theta(s), std^2) with std fixed at 1.

    The slides keep std = exp(0) = 1 so that exploration never shrinks.
    On Pendulum (state 3, action 1, hidden 64) it has 4,481 parameters.
    """

    def __init__(self, state_size, action_size, hidden_size=64):
        super().__init__()
        self.fc1 = nn.Linear(state_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, action_size)

    def forward(self, x):
        """x: (T, state_size) -> mu, std: (T, action_size)."""
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        mu = self.fc3(x)
        log_std = torch.zeros_like(mu)
        std = torch.exp(log_std)
        return mu, std


class Critic(nn.Module):
    """State-value function V_phi(s)."""

    def __init__(self, state_size, hidden_size=64):
        super().__init__()
        self.fc1 = nn.Linear(state_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, 1)

    def forward(self, x):
        """x: (T, state_size) -> value: (T, 1)."""
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)
