import os

# Ray on the loopback interface only (every node and driver of the tests, and the scripts they start, use
# 127.0.0.1), and no usage report: set before anything imports ray
os.environ['RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'] = '0'
os.environ['RAY_USAGE_STATS_ENABLED'] = '0'

import pytest
import torch
from torch.func import functional_call

from trpo.model import Actor
from trpo.utils import flat_grad, flat_params, kl_divergence


@pytest.fixture
def tiny_actor():
    """A float64 actor small enough for explicit Hessians: 2 states, 2 actions, 3 hidden."""
    torch.manual_seed(0)
    return Actor(2, 2, hidden_size=3).double()


@pytest.fixture
def states():
    torch.manual_seed(1)
    return torch.randn(16, 2, dtype=torch.float64)


def call_with_flat(model, theta, x):
    """model(x) with its parameters replaced by the flat vector theta (for autograd.functional)."""
    shapes = [(name, p.shape, p.numel()) for name, p in model.named_parameters()]
    params, i = {}, 0
    for name, shape, n in shapes:
        params[name] = theta[i:i + n].view(shape)
        i += n
    return functional_call(model, params, (x,))


def gaussian(policy):
    """The torch distribution of a Gaussian(mu, std) policy tuple, one event per state."""
    return torch.distributions.Independent(torch.distributions.Normal(*policy), 1)


def explicit_kl_hessian(actor, states, to_distribution=gaussian):
    """d^2/dtheta^2 of mean_s KL(pi_old(.|s) || pi_theta(.|s)) at theta_old, by torch.autograd.functional,
    with the KL of torch.distributions (to_distribution: the actor's output -> a torch distribution)."""
    theta0 = flat_params(actor)
    old = to_distribution(tuple(t.detach() for t in actor(states)))

    def mean_kl(theta):
        new = to_distribution(call_with_flat(actor, theta, states))
        return torch.distributions.kl_divergence(old, new).mean()

    return torch.autograd.functional.hessian(mean_kl, theta0)


def slides_hessian_vector_product(actor, states, p, damping=0.1):
    """The slides' H p, a reference: rebuild the mean KL, grad with create_graph, then grad of (grad^T p)."""
    kl = kl_divergence(new_actor=actor, old_actor=actor, states=states).mean()
    kl_grad = flat_grad(torch.autograd.grad(kl, actor.parameters(), create_graph=True))
    return flat_grad(torch.autograd.grad(kl_grad @ p, actor.parameters())) + damping * p


TIERS = ('integration', 'learning', 'ray')


def pytest_collection_modifyitems(items):
    """A test not marked integration, learning or ray is a unit test: `pytest -m unit` is the quick tier."""
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.unit)
