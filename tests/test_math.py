"""Tier 1: each algorithm function against an independent reference."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.distributions import Normal, kl_divergence as torch_kl

from conftest import call_with_flat, explicit_kl_hessian, slides_hessian_vector_product
from trpo.distributions import Gaussian
from trpo.model import Actor, Critic
from trpo.utils import (conjugate_gradient, fisher_graph, flat_grad, flat_params, get_log_prob, get_returns,
                        hessian_vector_product, kl_divergence, surrogate_loss, update_model)


def test_actor_has_the_slides_parameter_count_on_pendulum():
    actor = Actor(3, 1, 64)
    assert sum(p.numel() for p in actor.parameters()) == 4481  # slides: 4352 weights + 129 biases
    mu, std = actor(torch.zeros(5, 3))
    assert mu.shape == (5, 1) and torch.equal(std, torch.ones(5, 1))
    assert Critic(3, 64)(torch.zeros(5, 3)).shape == (5, 1)


def test_get_returns_restarts_at_episode_ends_and_normalizes():
    rewards = torch.tensor([1., 2., 3., 4., 5.], dtype=torch.float64)
    masks = torch.tensor([1., 1., 0., 1., 0.], dtype=torch.float64)  # episodes: steps 0-2, 3-4
    g = 0.9
    hand = np.array([1 + g * 2 + g * g * 3, 2 + g * 3, 3, 4 + g * 5, 5])
    expected = (hand - hand.mean()) / hand.std(ddof=1)
    np.testing.assert_allclose(get_returns(rewards, masks, g).numpy(), expected, rtol=1e-12)


def test_get_returns_of_a_constant_batch_is_zero_not_nan():
    out = get_returns(torch.ones(4), torch.zeros(4), 0.99)  # four 1-step episodes, std 0
    assert torch.equal(out, torch.zeros(4))


def test_log_prob_is_summed_over_action_dimensions():
    mu, std = torch.tensor([[0.5, -1.0]]), torch.tensor([[1.0, 2.0]])
    a = torch.tensor([[0.0, 1.0]])
    by_hand = sum(-np.log(np.sqrt(2 * np.pi)) - np.log(s) - (x - m) ** 2 / (2 * s * s)
                  for x, m, s in [(0.0, 0.5, 1.0), (1.0, -1.0, 2.0)])
    assert get_log_prob(a, Gaussian(mu, std)).shape == (1,)
    np.testing.assert_allclose(get_log_prob(a, Gaussian(mu, std)).item(), by_hand, rtol=1e-6)


def test_surrogate_is_the_mean_advantage_at_the_old_policy_with_the_policy_gradient(tiny_actor, states):
    actions = torch.randn(16, 2, dtype=torch.float64)
    adv = torch.randn(16, dtype=torch.float64)
    with torch.no_grad():
        old = get_log_prob(actions, tiny_actor(states))
    loss = surrogate_loss(tiny_actor, adv, states, old, actions)
    assert torch.allclose(loss, adv.mean())  # ratio = 1 at theta_old
    g = flat_grad(torch.autograd.grad(loss, tiny_actor.parameters()))
    logp = Normal(*tiny_actor(states)).log_prob(actions).sum(-1)  # grad of ratio at theta_old = grad log pi
    g_ref = flat_grad(torch.autograd.grad((logp * adv).mean(), tiny_actor.parameters()))
    torch.testing.assert_close(g, g_ref)


class LearnedStd(nn.Module):
    """A Gaussian policy with a state-independent learned std, to test the KL's std terms."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.lin = nn.Linear(2, 3).double()
        self.log_std = nn.Parameter(0.3 * torch.randn(3, dtype=torch.float64))

    def forward(self, x):
        mu = self.lin(x)
        return Gaussian(mu, self.log_std.exp().expand_as(mu))


def test_kl_divergence_matches_torch_distributions(states):
    new, old = LearnedStd(0), LearnedStd(1)
    ours = kl_divergence(new_actor=new, old_actor=old, states=states)
    ref = torch_kl(Normal(*old(states)), Normal(*new(states))).sum(-1)  # KL(pi_old || pi_new)
    assert ours.shape == (16,)
    torch.testing.assert_close(ours, ref)
    rev = torch_kl(Normal(*new(states)), Normal(*old(states))).sum(-1)
    assert not torch.allclose(ours, rev)  # the direction matters


def test_max_kl_is_sb3_contribs_target_kl_times_the_action_dimensions():
    """This package's trust region bounds the mean over states of the KL summed over action dimensions;
    SB3-contrib's TRPO bounds kl_divergence(...).mean() over a (T, action_dims) tensor: the mean over states
    and dimensions. So its target_kl 0.01 is max_kl 0.01 x action_dims here (Hopper-v5: 0.03). Checked
    against the closed form of a Gaussian's KL per dimension, on Hopper-sized actors (3 action dimensions)."""
    torch.manual_seed(0)
    states = torch.randn(500, 11, dtype=torch.float64)
    old, new = Actor(11, 3, 64, learn_std=True).double(), Actor(11, 3, 64, learn_std=True).double()
    new.load_state_dict(old.state_dict())
    with torch.no_grad():
        for p in new.parameters():
            p.add_(0.01 * torch.randn_like(p))  # a small step, as a trust region's
    with torch.no_grad():
        ours = kl_divergence(new_actor=new, old_actor=old, states=states).mean().item()  # what the search bounds
        (mu_o, std_o), (mu_n, std_n) = [(x.numpy() for x in a(states)) for a in (old, new)]

    def closed_form(mu_p, std_p, mu_q, std_q):  # KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)), per dimension
        return np.log(std_q / std_p) + (std_p ** 2 + (mu_p - mu_q) ** 2) / (2 * std_q ** 2) - 0.5

    per_dimension = closed_form(mu_o, std_o, mu_n, std_n)  # (T, 3)
    assert per_dimension.shape == (500, 3)
    assert ours == pytest.approx(3 * per_dimension.mean(), rel=1e-12)
    # SB3-contrib's direction is KL(pi_new || pi_old): the same to second order in a step this small
    sb3 = closed_form(mu_n, std_n, mu_o, std_o).mean()
    assert ours == pytest.approx(3 * sb3, rel=0.02)
    assert ours > 1.5 * sb3  # not the same units: a target_kl of 0.01 there is not max_kl 0.01 here


def test_kl_divergence_of_identical_policies_is_zero(tiny_actor, states):
    assert torch.equal(kl_divergence(tiny_actor, tiny_actor, states), torch.zeros(16, dtype=torch.float64))


def test_hessian_vector_product_matches_explicit_hessian(tiny_actor, states):
    H = explicit_kl_hessian(tiny_actor, states)
    p = torch.randn(H.shape[0], dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(fisher_graph(tiny_actor, states), p, damping=0.1), H @ p + 0.1 * p)


def test_fisher_of_fixed_std_gaussian_is_jacobian_gram(tiny_actor, states):
    """For std = 1: F = mean_s J_s^T J_s / std^2, J_s = d mu(s) / d theta."""
    theta = flat_params(tiny_actor)
    J = torch.autograd.functional.jacobian(lambda t: call_with_flat(tiny_actor, t, states)[0], theta)  # (16, 2, P)
    F = torch.einsum('sap,saq->pq', J, J) / len(states)
    p = torch.randn(len(theta), dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(fisher_graph(tiny_actor, states), p, damping=0.0), F @ p)


def test_conjugate_gradient_solves_spd_system():
    torch.manual_seed(0)
    M = torch.randn(20, 20, dtype=torch.float64)
    A = M @ M.T + 20 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, nsteps=20, residual_tol=1e-20)
    torch.testing.assert_close(x, torch.linalg.solve(A, b), rtol=1e-8, atol=1e-10)


def test_conjugate_gradient_starts_at_zero():
    """One step from x0 = 0 is the exact line minimizer along b: x = (b^T b / b^T A b) b."""
    A = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
    b = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(conjugate_gradient(lambda v: A @ v, b, nsteps=1), (3 / 14) * b)


def test_conjugate_gradient_of_a_zero_right_hand_side_is_zero_not_nan():
    A = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
    assert torch.equal(conjugate_gradient(lambda v: A @ v, torch.zeros(2, dtype=torch.float64)), torch.zeros(2))


def test_flat_grad_of_sum_of_squares_is_2x_in_parameters_order():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    loss = sum((p ** 2).sum() for p in model.parameters())
    g = flat_grad(torch.autograd.grad(loss, model.parameters()))
    assert torch.equal(g, 2 * torch.cat([p.detach().reshape(-1) for p in model.parameters()]))


def test_flat_params_update_model_round_trip():
    a, b = Actor(3, 1, 8), Actor(3, 1, 8)
    theta = flat_params(a)
    assert theta.shape == (sum(p.numel() for p in a.parameters()),)
    update_model(b, theta)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    update_model(b, theta + 1)
    assert torch.equal(flat_params(b), theta + 1)
    assert torch.equal(flat_params(a), theta)  # a copy, not a view of a's weights


def test_hessian_vector_product_matches_the_slides_double_backward_for_many_vectors_on_one_graph(tiny_actor, states):
    graph = fisher_graph(tiny_actor, states)
    H = explicit_kl_hessian(tiny_actor, states)
    for seed in range(3):  # the kept forward pass serves every vector of an update
        p = torch.randn(H.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        ref = slides_hessian_vector_product(tiny_actor, states, p, damping=0.1)
        torch.testing.assert_close(hessian_vector_product(graph, p, damping=0.1), ref)
        torch.testing.assert_close(hessian_vector_product(graph, p, damping=0.1), H @ p + 0.1 * p)


def test_hessian_vector_product_with_learned_std_matches_explicit_hessian(states):
    policy = LearnedStd(0)
    H = explicit_kl_hessian(policy, states)
    p = torch.randn(H.shape[0], dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(fisher_graph(policy, states), p, damping=0.1), H @ p + 0.1 * p)
    torch.testing.assert_close(slides_hessian_vector_product(policy, states, p, damping=0.1), H @ p + 0.1 * p)


def test_hessian_vector_product_on_pendulum_size_actor_matches_the_slides_double_backward():
    torch.manual_seed(0)
    actor, states = Actor(3, 1, 64), torch.randn(512, 3)
    p = torch.randn(4481)
    ref = slides_hessian_vector_product(actor, states, p)
    assert ((hessian_vector_product(fisher_graph(actor, states), p) - ref).norm() / ref.norm()).item() < 1e-5
