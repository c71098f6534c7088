"""One TRPO update: the slides' steps 1-6, in order."""
import copy
import math
from typing import NamedTuple, Optional

import torch

from trpo.model import RunningNorm
from trpo.utils import (backtracking_line_search, conjugate_gradient, discounted_sum, fisher_graph, flat_grad,
                        flat_params, get_entropy, get_gae, get_log_prob, get_returns, hessian_vector_product,
                        normalize, surrogate_loss, update_critic)


class Batch(NamedTuple):
    """Whole episodes laid end to end: states (T, state_size), actions (T, action_size) (Discrete
    actions: (T,) indices, as floats), rewards (T,), masks (T,) with mask 0 at the last step of each
    episode (terminated or truncated). For bootstrapping at truncation: terminals (T,) 1 where the
    episode truly terminated, next_states (T, state_size) the state each step led to."""
    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    masks: torch.Tensor
    terminals: torch.Tensor = None
    next_states: torch.Tensor = None


class UpdateInfo(NamedTuple):
    critic_loss: float
    accepted: bool
    step_fraction: float
    kl: float
    surrogate_improvement: float
    skipped: str = ''  # why the policy was left as it was ('' when the step was taken)
    usable: bool = True  # False: the batch or the critic loss was not finite, and nothing was updated
    explained_variance: float = math.nan  # 1 - Var(G - V) / Var(G), V before the critic's update
    entropy: float = math.nan  # mean entropy of pi_old over the batch's states
    cg_residual: float = math.nan  # ||g - (H + cI) s|| / ||g|| after conjugate gradient
    backtracks: int = 0  # j of the accepted fraction alpha^j (max_backtracks when rejected)


class UpdateOptions(NamedTuple):
    """How train_model estimates advantages and fits the critic. The defaults are the slides'."""
    gae_lambda: Optional[float] = None  # None: normalized Monte-Carlo returns (slides); else GAE(lambda)
    bootstrap_truncation: bool = False  # with GAE: V(s') continues an episode the time limit cut off
    normalize_advantages: bool = False  # advantages to mean 0, std 1 over the batch
    critic_epochs: int = 1  # passes of Adam over the batch per iteration
    critic_batch_size: int = 0  # minibatch size; 0: the whole batch
    cg_damping: float = 0.1
    cg_iters: int = 10


def skipped_update(critic_loss, reason, usable=True, **diagnostics):
    """UpdateInfo of an iteration whose policy update was skipped, leaving the actor as it was."""
    return UpdateInfo(float(critic_loss), False, 0.0, 0.0, 0.0, reason, usable, **diagnostics)


def train_model(actor, critic, critic_optimizer, batch, gamma, max_kl, options=UpdateOptions(), critic_fitter=None):
    """Update critic (Adam) and actor (one trust-region step) on one batch.

    Step 2 is update_critic(critic, critic_optimizer, ...): here and now, or, given the trainer's
    critic_fitter (trpo.critic_fit.CriticFitter), the same call run beside the next batch's sampling,
    in a worker process or in this one. Steps 3-6 use the values from before the fit either way.

    pi_old is the policy that collected the batch: the running statistics (tuned
    preset) are used as they were while it sampled, and train_model never changes
    them; update_running_stats merges the batch into them after the update. So
    mean KL(pi_old || pi_new) <= max_kl holds against the policy that acted.

    Guards: a non-finite reward or state, or a non-finite critic loss, skips
    both updates (UpdateInfo.usable is False: do not merge the batch into the
    statistics); a non-finite policy gradient, a non-finite or non-positive
    s^T H s, or a line search that cannot improve skips the policy update. Then
    UpdateInfo.skipped says why, and no actor parameter has changed.
    """
    states, actions = batch.states, batch.actions
    if not (torch.isfinite(batch.rewards).all() and torch.isfinite(states).all()):
        return skipped_update(float('nan'), 'the batch holds a non-finite reward or state', usable=False)
    rewards = batch.rewards
    if critic.return_norm is not None:  # tuned preset: rewards / std of the discounted returns, this batch's too
        rewards = rewards / critic.return_norm.merged(discounted_returns(batch, gamma)).std().float()
    with torch.no_grad():
        values = critic(states).squeeze(-1)  # V before the critic's update: the advantages use it

    # step 1: get returns (the slides': normalized Monte-Carlo returns; or GAE(lambda) and lambda-returns)
    if options.gae_lambda is None:
        returns = get_returns(rewards, batch.masks, gamma)
        advantages = returns - values
    else:
        terminals = batch.terminals if options.bootstrap_truncation else 1.0 - batch.masks
        with torch.no_grad():
            next_values = critic(batch.next_states).squeeze(-1)
        advantages, returns = get_gae(rewards, batch.masks, terminals, values, next_values,
                                      gamma, options.gae_lambda)
    if options.normalize_advantages:
        advantages = normalize(advantages)
    critic_loss = torch.nn.functional.mse_loss(values, returns)
    diagnostics = dict(explained_variance=explained_variance(values, returns))
    if not torch.isfinite(critic_loss):
        return skipped_update(critic_loss, f'critic loss is {critic_loss.item()} (the critic diverged)', usable=False)

    # step 2: update critic, J(phi) = mean (V_phi(s) - G)^2 (with a critic_fitter: beside the next batch's sampling)
    fit = update_critic if critic_fitter is None else critic_fitter.submit
    fit(critic, critic_optimizer, states, returns, options.critic_epochs, options.critic_batch_size)

    # step 3: get gradient of actor loss through surrogate loss, g = grad L(theta)
    with torch.no_grad():
        policy = actor(states)  # pi_old: the sampling policy, with the statistics it sampled with
        old_policy = get_log_prob(actions, policy)
        diagnostics['entropy'] = get_entropy(policy).mean().item()
    actor_loss = surrogate_loss(actor, advantages, states, old_policy, actions)
    actor_loss_grad = flat_grad(torch.autograd.grad(actor_loss, actor.parameters()))
    if not torch.isfinite(actor_loss_grad).all():
        return skipped_update(critic_loss, 'the policy gradient is not finite', **diagnostics)

    # step 4: get search direction through conjugate gradient, s = (H + c I)^-1 g
    graph = fisher_graph(actor, states)  # the forward pass every H p of this update shares

    def Hvp(p):
        return hessian_vector_product(graph, p, damping=options.cg_damping)

    search_dir = conjugate_gradient(Hvp, actor_loss_grad, nsteps=options.cg_iters)

    # step 5: get step size and maximal step, beta = sqrt(2 delta / s^T (H + c I) s), as the slides compute it
    Hs = Hvp(search_dir)
    sHs = search_dir @ Hs
    diagnostics['cg_residual'] = ((actor_loss_grad - Hs).norm() / actor_loss_grad.norm()).item()
    if not (torch.isfinite(sHs) and sHs > 0):
        return skipped_update(critic_loss, f's^T H s = {sHs.item():.3g} is not positive and finite', **diagnostics)
    step_size = torch.sqrt(2 * max_kl / sHs)
    maximal_step = step_size * search_dir

    # step 6: backtracking line search; update actor inside the trust region
    params = flat_params(actor)
    old_actor = copy.deepcopy(actor)
    result = backtracking_line_search(old_actor, actor, actor_loss.detach(), actor_loss_grad,
                                      old_policy, params, maximal_step, max_kl,
                                      advantages, states, actions)
    skipped = '' if result.accepted else 'the line search found no step within max_kl that improves the surrogate'
    return UpdateInfo(critic_loss.item(), result.accepted, result.step_fraction, result.kl, result.improvement,
                      skipped, backtracks=result.backtracks, **diagnostics)


def explained_variance(values, returns):
    """1 - Var(G - V) / Var(G): 1 for a perfect critic, 0 for one that predicts the mean, nan for constant G."""
    var = returns.var()
    return (1 - (returns - values).var() / var).item() if var > 0 else math.nan


def discounted_returns(batch, gamma):
    """The discounted returns of the batch's raw rewards, (T, 1): what --scale_rewards takes the std of."""
    return discounted_sum(batch.rewards, batch.masks, gamma).unsqueeze(-1)


@torch.no_grad()
def update_running_stats(actor, critic, batch, gamma):
    """After the update: merge the batch's states into the observation statistics and its
    discounted returns into the return statistics (tuned preset; nothing for the slides')."""
    if isinstance(actor.obs_norm, RunningNorm):
        actor.obs_norm.update(batch.states)
    if critic.return_norm is not None:
        critic.return_norm.update(discounted_returns(batch, gamma))
