"""Tier 1: the line search and one whole update, checked with torch.distributions."""
import copy

import pytest
import torch
from torch.distributions import Normal, kl_divergence as torch_kl

from conftest import explicit_kl_hessian
from trpo.model import Actor, Critic
from trpo.update import Batch, UpdateOptions, train_model, update_running_stats
from trpo.utils import (backtracking_line_search, flat_grad, flat_params, get_log_prob, get_returns,
                        surrogate_loss, update_model)


def mean_kl(old, new, states):
    """Independent reference: mean_s KL(pi_old || pi_new) via torch.distributions."""
    with torch.no_grad():
        return torch_kl(Normal(*old(states)), Normal(*new(states))).sum(-1).mean().item()


@pytest.fixture
def problem(tiny_actor, states):
    torch.manual_seed(2)
    actions = torch.randn(16, 2, dtype=torch.float64)
    adv = torch.randn(16, dtype=torch.float64)
    with torch.no_grad():
        old_policy = get_log_prob(actions, tiny_actor(states))
    loss = surrogate_loss(tiny_actor, adv, states, old_policy, actions)
    g = flat_grad(torch.autograd.grad(loss, tiny_actor.parameters()))
    return tiny_actor, states, actions, adv, old_policy, loss.detach(), g


def search(actor, states, actions, adv, old_policy, loss, g, step, max_kl):
    params = flat_params(actor)
    return backtracking_line_search(copy.deepcopy(actor), actor, loss, g, old_policy, params, step,
                                    max_kl, adv, states, actions)


def maximal_step(actor, states, g, max_kl):
    """beta * s with s = (H + 0.1 I)^-1 g solved exactly and beta = sqrt(2 delta / s^T H s)."""
    H = explicit_kl_hessian(actor, states) + 0.1 * torch.eye(len(g), dtype=torch.float64)
    s = torch.linalg.solve(H, g)
    return torch.sqrt(2 * max_kl / (s @ H @ s)) * s


def test_accepted_step_satisfies_kl_and_improvement_conditions(problem):
    actor, states, actions, adv, old_policy, loss, g = problem
    old = copy.deepcopy(actor)
    max_kl = 0.01
    step = maximal_step(actor, states, g, max_kl)
    result = search(actor, states, actions, adv, old_policy, loss, g, step, max_kl)

    assert result.accepted and result.step_fraction in [0.5 ** j for j in range(10)]
    assert torch.equal(flat_params(actor), flat_params(old) + result.step_fraction * step)
    kl = mean_kl(old, actor, states)
    assert kl <= max_kl and kl == pytest.approx(result.kl, rel=1e-9)
    with torch.no_grad():
        improvement = (surrogate_loss(actor, adv, states, old_policy, actions) - loss).item()
    expected = result.step_fraction * (g @ step).item()  # first order, for this fraction only
    assert improvement == pytest.approx(result.improvement, rel=1e-9)
    assert improvement > 0.5 * expected > 0
    assert result.expected_improvement == pytest.approx(expected, rel=1e-12)


def test_backtracks_until_kl_fits_then_takes_that_fraction(problem):
    """A step 4x too long (KL about 16 delta) breaks the bound; the search must shrink it by halves."""
    actor, states, actions, adv, old_policy, loss, g = problem
    old = copy.deepcopy(actor)
    step = 4 * maximal_step(actor, states, g, 0.01)
    result = search(actor, states, actions, adv, old_policy, loss, g, step, 0.01)
    assert result.accepted and result.step_fraction <= 0.25
    for j in range(10):  # every larger fraction was infeasible or did not improve enough
        f = 0.5 ** j
        if f == result.step_fraction:
            break
        probe = copy.deepcopy(old)
        update_model(probe, flat_params(old) + f * step)
        with torch.no_grad():
            imp = (surrogate_loss(probe, adv, states, old_policy, actions) - loss).item()
        assert mean_kl(old, probe, states) > 0.01 or not imp > 0.5 * f * (g @ step).item()


def test_direction_that_cannot_improve_is_rejected_and_parameters_restored_bit_for_bit(problem):
    actor, states, actions, adv, old_policy, loss, g = problem
    before = {k: v.clone() for k, v in actor.state_dict().items()}
    result = search(actor, states, actions, adv, old_policy, loss, g, -0.1 * g, 0.01)  # downhill
    assert not result.accepted and result.step_fraction == 0.0
    for k, v in actor.state_dict().items():
        assert torch.equal(v, before[k]), k


def make_batch(seed=0, T=256, state_size=3, action_size=1):
    torch.manual_seed(seed)
    masks = torch.ones(T)
    masks[T // 2 - 1] = masks[T - 1] = 0  # two episodes
    return Batch(torch.randn(T, state_size), torch.randn(T, action_size), torch.randn(T), masks,
                 terminals=torch.zeros(T), next_states=torch.randn(T, state_size))


def test_one_update_changes_the_policy_within_the_trust_region():
    torch.manual_seed(0)
    actor, critic = Actor(3, 1), Critic(3)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    old_actor, old_critic = copy.deepcopy(actor), copy.deepcopy(critic)
    batch = make_batch()
    info = train_model(actor, critic, opt, batch, gamma=0.99, max_kl=0.01)
    assert info.accepted
    kl = mean_kl(old_actor, actor, batch.states)
    assert 0 < kl <= 0.01 and kl == pytest.approx(info.kl, rel=1e-5)
    assert info.surrogate_improvement > 0
    assert not torch.equal(flat_params(critic), flat_params(old_critic))


def update_leaving_the_policy_alone(batch, max_kl=0.01, zero_critic=False):
    """Run train_model; assert it reports a skip and changed no actor parameter. Returns (info, critic moved)."""
    torch.manual_seed(0)
    actor, critic = Actor(3, 1), Critic(3)
    if zero_critic:
        torch.nn.init.zeros_(critic.fc3.weight)
        torch.nn.init.zeros_(critic.fc3.bias)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    before, critic_before = flat_params(actor), flat_params(critic)
    info = train_model(actor, critic, opt, batch, gamma=0.99, max_kl=max_kl)
    assert not info.accepted and info.skipped
    assert torch.equal(flat_params(actor), before)
    return info, not torch.equal(flat_params(critic), critic_before)


def test_a_nan_reward_skips_both_updates():
    batch = make_batch()
    batch.rewards[5] = float("nan")
    info, critic_moved = update_leaving_the_policy_alone(batch)
    assert "non-finite reward" in info.skipped and not critic_moved


def test_a_diverged_critic_skips_both_updates():
    torch.manual_seed(0)
    actor, critic = Actor(3, 1), Critic(3)
    torch.nn.init.constant_(critic.fc3.bias, float("inf"))
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    before = flat_params(actor)
    info = train_model(actor, critic, opt, make_batch(), gamma=0.99, max_kl=0.01)
    assert "critic diverged" in info.skipped and not opt.state  # Adam never stepped
    assert torch.equal(flat_params(actor), before)


def test_a_nan_state_leaves_the_tuned_running_statistics_alone():
    torch.manual_seed(0)
    actor = Actor(3, 1, learn_std=True, normalize_obs=True)
    critic = Critic(3, obs_norm=actor.obs_norm, scale_rewards=True)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    train_model(actor, critic, opt, make_batch(), 0.99, 0.01, UpdateOptions(gae_lambda=0.95))
    before = copy.deepcopy((actor.state_dict(), critic.state_dict()))
    batch = make_batch(seed=1)
    batch.states[7, 0] = float("nan")
    info = train_model(actor, critic, opt, batch, 0.99, 0.01, UpdateOptions(gae_lambda=0.95))
    assert "non-finite reward or state" in info.skipped
    for saved, now in zip(before, (actor.state_dict(), critic.state_dict())):
        assert all(torch.equal(saved[k], now[k]) for k in saved)  # weights and running statistics


def tuned_pair(seed=0):
    torch.manual_seed(seed)
    actor = Actor(3, 1, learn_std=True, log_std_init=-0.5, normalize_obs=True)
    critic = Critic(3, obs_norm=actor.obs_norm, scale_rewards=True)
    return actor, critic, torch.optim.Adam(critic.parameters(), lr=1e-3)


def sampled_batch(actor, T=400, seed=1):
    """States far from the running statistics (mean 5, std 3), actions drawn from actor itself."""
    g = torch.Generator().manual_seed(seed)
    states = 5 + 3 * torch.randn(T, 3, generator=g)
    with torch.no_grad():
        mu, std = actor(states)
    actions = mu + std * torch.randn(mu.shape, generator=g)
    masks = torch.ones(T)
    masks[T // 2 - 1] = masks[T - 1] = 0
    return Batch(states, actions, torch.randn(T, generator=g), masks, terminals=torch.zeros(T),
                 next_states=5 + 3 * torch.randn(T, 3, generator=g))


@pytest.mark.parametrize("max_kl", [0.01, 0.03])
def test_the_trust_region_holds_against_the_policy_that_sampled_the_batch(max_kl):
    """With running statistics (tuned preset), KL(sampling actor || updated actor) on the batch's states
    is at most max_kl, and the statistics take in the batch only afterwards (update_running_stats)."""
    actor, critic, opt = tuned_pair()
    batch = sampled_batch(actor)
    sampler = copy.deepcopy(actor)
    info = train_model(actor, critic, opt, batch, 0.99, max_kl, UpdateOptions(gae_lambda=0.95))
    assert info.accepted and info.usable
    kl = mean_kl(sampler, actor, batch.states)
    assert 0 < kl <= max_kl and kl == pytest.approx(info.kl, rel=1e-4)
    assert actor.obs_norm.count.item() == 0 and critic.return_norm.count.item() == 0
    update_running_stats(actor, critic, batch, 0.99)
    torch.testing.assert_close(actor.obs_norm.mean, batch.states.double().mean(0))
    torch.testing.assert_close(actor.obs_norm.var, batch.states.double().var(0, unbiased=False))
    assert critic.return_norm.count.item() == len(batch.states)


def test_a_diverged_critic_leaves_the_running_statistics_alone():
    actor, critic, opt = tuned_pair()
    train_model(actor, critic, opt, sampled_batch(actor), 0.99, 0.01, UpdateOptions(gae_lambda=0.95))
    update_running_stats(actor, critic, sampled_batch(actor), 0.99)
    torch.nn.init.constant_(critic.fc3.bias, float("inf"))
    before = copy.deepcopy((actor.state_dict(), critic.state_dict()))
    info = train_model(actor, critic, opt, sampled_batch(actor, seed=2), 0.99, 0.01, UpdateOptions(gae_lambda=0.95))
    assert "critic diverged" in info.skipped and not info.usable
    for saved, now in zip(before, (actor.state_dict(), critic.state_dict())):
        assert all(torch.equal(saved[k], now[k]) for k in saved)  # weights and running statistics


def test_a_nan_in_the_policy_gradient_skips_the_policy_update():
    batch = make_batch()
    batch.actions[3] = float("inf")  # log-probability -inf at one state: the gradient is not finite
    info, critic_moved = update_leaving_the_policy_alone(batch)
    assert "gradient is not finite" in info.skipped and critic_moved


def test_zero_advantages_give_s_h_s_zero_and_skip_the_policy_update():
    """Equal rewards in one-step episodes: returns normalize to 0, a zero critic predicts 0, so g = 0."""
    batch = make_batch()
    batch.rewards.fill_(1.0)
    batch.masks.fill_(0.0)
    info, _ = update_leaving_the_policy_alone(batch, zero_critic=True)
    assert "s^T H s = 0" in info.skipped


def test_a_line_search_that_cannot_improve_skips_the_policy_update():
    """A trust region of 1e-20 moves float32 weights by less than their rounding: no step improves."""
    info, critic_moved = update_leaving_the_policy_alone(make_batch(), max_kl=1e-20)
    assert "line search" in info.skipped and critic_moved


def test_cg_iters_and_cg_damping_reach_the_search_direction(tiny_actor, states):
    """The step train_model takes is parallel to (H + c I)^-1 g solved exactly (explicit Hessian,
    torch.linalg.solve) for the damping c it is given; one CG iteration gives g itself."""
    T = len(states)
    torch.manual_seed(3)
    masks = torch.ones(T, dtype=torch.float64)
    masks[T // 2 - 1] = masks[-1] = 0
    batch = Batch(states, torch.randn(T, 2, dtype=torch.float64), torch.randn(T, dtype=torch.float64), masks)
    critic = Critic(2, hidden_size=3).double()
    torch.nn.init.zeros_(critic.fc3.weight)
    torch.nn.init.zeros_(critic.fc3.bias)  # V = 0 before the update: advantages = the normalized returns
    advantages = get_returns(batch.rewards, masks, 0.99)
    logp = Normal(*tiny_actor(states)).log_prob(batch.actions).sum(-1)
    # grad of the surrogate at theta_old
    g = flat_grad(torch.autograd.grad((advantages * logp).mean(), tiny_actor.parameters()))
    H = explicit_kl_hessian(tiny_actor, states)

    def step(cg_iters, cg_damping):
        actor, c = copy.deepcopy(tiny_actor), copy.deepcopy(critic)
        info = train_model(actor, c, torch.optim.Adam(c.parameters(), lr=1e-3), batch, 0.99, 0.01,
                           UpdateOptions(cg_iters=cg_iters, cg_damping=cg_damping))
        assert info.accepted and mean_kl(tiny_actor, actor, states) <= 0.01
        return flat_params(actor) - flat_params(tiny_actor)

    def cosine(a, b):
        return (a @ b / (a.norm() * b.norm())).item()

    exact = {c: torch.linalg.solve(H + c * torch.eye(len(g), dtype=torch.float64), g) for c in (0.1, 0.5)}
    assert cosine(step(200, 0.5), exact[0.5]) > 1 - 1e-6
    assert cosine(step(200, 0.1), exact[0.1]) > 1 - 1e-6
    assert cosine(exact[0.1], exact[0.5]) < 0.999  # the damping makes a difference this test can see
    assert cosine(step(1, 0.1), g) > 1 - 1e-12
