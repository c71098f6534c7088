"""One TRPO update: the slides' steps 1-6, in order."""
import copy
from typing import NamedTuple

import torch

from trpo.utils import (backtracking_line_search, conjugate_gradient, fisher_vector_product,
                        flat_grad, flat_params, get_log_prob, get_returns,
                        make_fisher_vector_product, surrogate_loss)


class Batch(NamedTuple):
    """Whole episodes laid end to end: states (T, state_size), actions (T, action_size),
    rewards (T,), masks (T,) with mask 0 at the last step of each episode."""
    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    masks: torch.Tensor


class UpdateInfo(NamedTuple):
    critic_loss: float
    accepted: bool
    step_fraction: float
    kl: float
    surrogate_improvement: float
    skipped: str = ''  # why the policy was left as it was ('' when the step was taken)


def skipped_update(critic_loss, reason):
    """UpdateInfo of an iteration whose policy update was skipped, leaving the actor as it was."""
    return UpdateInfo(float(critic_loss.detach()), False, 0.0, 0.0, 0.0, reason)


def train_model(actor, critic, critic_optimizer, batch, gamma, max_kl,
                cg_damping=0.1, cg_iters=10, fast_fvp=True):
    """Update critic (one Adam step) and actor (one trust-region step) on one batch.

    fast_fvp=False uses the slides' Fisher-vector product, which rebuilds the KL
    graph on every call (same numbers, slower; kept as the reference).

    Guards: a non-finite critic loss (NaN or inf in the rewards) skips both
    updates; a non-finite policy gradient, a non-finite or non-positive s^T H s,
    or a line search that cannot improve skips the policy update. Then
    UpdateInfo.skipped says why, and no parameter has changed.
    """
    states, actions = batch.states, batch.actions

    # step 1: get returns
    returns = get_returns(batch.rewards, batch.masks, gamma)

    # step 2: update critic, J(phi) = mean (V_phi(s) - G)^2; advantages use V before the step
    values = critic(states).squeeze(-1)
    critic_loss = torch.nn.functional.mse_loss(values, returns)
    if not torch.isfinite(critic_loss):
        return skipped_update(critic_loss, f'critic loss is {critic_loss.item()} (non-finite rewards or values)')
    critic_optimizer.zero_grad()
    critic_loss.backward()
    critic_optimizer.step()
    advantages = (returns - values).detach()

    # step 3: get gradient of actor loss through surrogate loss, g = grad L(theta)
    with torch.no_grad():
        mu, std = actor(states)
        old_policy = get_log_prob(actions, mu, std)
    actor_loss = surrogate_loss(actor, advantages, states, old_policy, actions)
    actor_loss_grad = flat_grad(torch.autograd.grad(actor_loss, actor.parameters()))
    if not torch.isfinite(actor_loss_grad).all():
        return skipped_update(critic_loss, 'the policy gradient is not finite')

    # step 4: get search direction through conjugate gradient, s = H^-1 g
    if fast_fvp:
        Hvp = make_fisher_vector_product(actor, states, damping=cg_damping)
    else:
        def Hvp(v):
            return fisher_vector_product(actor, states, v, damping=cg_damping)
    search_dir = conjugate_gradient(Hvp, actor_loss_grad, nsteps=cg_iters)

    # step 5: get step size and maximal step, beta = sqrt(2 delta / s^T H s)
    sHs = search_dir @ Hvp(search_dir)
    if not (torch.isfinite(sHs) and sHs > 0):
        return skipped_update(critic_loss, f's^T H s = {sHs.item():.3g} is not positive and finite')
    step_size = torch.sqrt(2 * max_kl / sHs)
    maximal_step = step_size * search_dir

    # step 6: backtracking line search; update actor inside the trust region
    params = flat_params(actor)
    old_actor = copy.deepcopy(actor)
    result = backtracking_line_search(old_actor, actor, actor_loss.detach(), actor_loss_grad,
                                      old_policy, params, maximal_step, max_kl,
                                      advantages, states, actions)
    skipped = '' if result.accepted else 'the line search found no step within max_kl that improves the surrogate'
    return UpdateInfo(critic_loss.item(), result.accepted, result.step_fraction,
                      result.kl, result.improvement, skipped)
