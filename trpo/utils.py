"""The algorithm's functions, one per step of the slides' TRPO update.

Notation (Spinning Up / the slides): theta are the actor's parameters, g the
gradient of the surrogate, H the Hessian of the mean KL (the Fisher matrix),
s = H^-1 g the search direction, delta = max_kl the trust-region radius.
"""
from typing import NamedTuple

import torch


# learning process 1: select an action for the state
def get_action(policy):
    """Sample a ~ pi(.|s) for each state: numpy (T, action_size) or, for a Categorical, (T,) indices.

    Gaussian(mu, std): a = mu + std * eps, eps ~ N(0, I), the slides' Normal(mu, std).sample()
    without a distribution object per step. Categorical(logits): a ~ softmax(logits).
    """
    return policy.sample().detach().numpy()  # as the slides' action.data.numpy(): no gradient flows back


def get_log_prob(actions, policy):
    """log pi(a|s), (T,).

    Gaussian: sum_j [ -log sqrt(2 pi) - log std_j - (a_j - mu_j)^2 / (2 std_j^2) ], summed over the
    action axis (the probability of an action vector is the product over its dimensions).
    Categorical: logits_a - log sum_b exp(logits_b).
    """
    return policy.log_prob(actions)


def get_entropy(policy):
    """H[pi(.|s)], (T,). Gaussian: sum_j [ 1/2 + 1/2 log(2 pi) + log std_j ]; Categorical: -sum_a p_a log p_a."""
    return policy.entropy()


# step 1: get returns
def get_returns(rewards, masks, gamma):
    """Discounted returns G_t = r_t + gamma * mask_t * G_{t+1}, then normalized.

    mask_t = 0 at the last step of an episode, so the sum restarts there.
    rewards, masks: (T,) -> (T,), normalized to mean 0 and std 1 over the batch
    as on the slides (std clamped at 1e-8 so a constant batch gives zeros).
    """
    return normalize(discounted_sum(rewards, masks, gamma))


# step 1 (tuned preset): GAE(lambda) advantages and lambda-returns
def get_gae(rewards, masks, terminals, values, next_values, gamma, lamda):
    """Generalized advantage estimation (Schulman et al. 2016):

        delta_t = r_t + gamma * (1 - terminal_t) * V(s_{t+1}) - V(s_t)
        A_t = delta_t + gamma * lamda * mask_t * A_{t+1}

    mask_t = 0 where an episode ends, terminated or truncated, so the sum restarts
    there; terminal_t = 1 only where it truly terminated. At a time-limit truncation
    (mask 0, terminal 0) V(s_{t+1}) stands in for the rewards the limit cut off.
    All (T,). Returns (A, A + V): advantages, and the lambda-returns the critic fits.
    """
    deltas = rewards + gamma * (1.0 - terminals) * next_values - values
    advantages = discounted_sum(deltas, masks, gamma * lamda)
    return advantages, advantages + values


def discounted_sum(x, masks, factor):
    """y_t = x_t + factor * mask_t * y_{t+1}, from the end backwards. x, masks: (T,) -> (T,)."""
    x, m = x.tolist(), masks.tolist()  # plain floats: ~50x faster than indexing tensors
    y, running = [0.0] * len(x), 0.0
    for t in reversed(range(len(x))):
        running = x[t] + m[t] * factor * running
        y[t] = running
    return torch.tensor(y, dtype=masks.dtype)


def normalize(x):
    """(x - mean) / std over the batch; std clamped at 1e-8, so a constant x gives zeros, not NaN."""
    return (x - x.mean()) / x.std().clamp_min(1e-8)


# step 2: update critic
def update_critic(critic, critic_optimizer, states, targets, epochs=1, batch_size=0, generator=None):
    """Minimize J(phi) = mean_t (V_phi(s_t) - target_t)^2 with Adam.

    epochs passes over the batch, each in shuffled minibatches of batch_size
    (0: the whole batch in one step, unshuffled; with epochs=1 that is the slides'
    single step). generator: the torch.Generator of the shuffles (None: torch's global one).
    states: (T, state_size), targets: (T,).
    """
    for x, y in minibatches(states, targets, epochs, batch_size, generator):
        critic_loss = torch.nn.functional.mse_loss(critic(x).squeeze(-1), y)
        critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_optimizer.step()


def minibatches(states, targets, epochs, batch_size, generator=None):
    """The (states, targets) of each Adam step: epochs passes over the T rows, each shuffled once (one gather per
    pass, the minibatches views of it) and cut into batch_size rows, the last one shorter; batch_size 0 (or >= T):
    all rows, in order."""
    n = len(states)
    for _ in range(epochs):
        if not 0 < batch_size < n:
            yield states, targets
            continue
        order = torch.randperm(n, generator=generator)
        yield from zip(states[order].split(batch_size), targets[order].split(batch_size))


# step 3: surrogate loss
def surrogate_loss(actor, advantages, states, old_policy, actions):
    """L(theta) = mean_t [ pi_theta(a_t|s_t) / pi_old(a_t|s_t) * A_t ].

    advantages, old_policy (log pi_old(a|s), no grad): (T,); states: (T, state_size);
    actions: (T, action_size), or (T,) for Discrete. Maximized by TRPO.
    """
    new_policy = get_log_prob(actions, actor(states))
    return (torch.exp(new_policy - old_policy) * advantages).mean()


def flat_grad(grads):
    """Concatenate per-parameter gradients into one vector, in parameters() order."""
    return torch.cat([grad.reshape(-1) for grad in grads])


def flat_params(model):
    """theta as one detached vector (a copy), in parameters() order."""
    return torch.cat([param.detach().reshape(-1) for param in model.parameters()])


def update_model(model, new_params):
    """Write the flat vector new_params back into model's parameters (in place)."""
    index = 0
    for param in model.parameters():
        length = param.numel()
        param.data.copy_(new_params[index:index + length].view_as(param))
        index += length


# step 6 (step 4's H is the Hessian of its mean): KL divergence between the old and the new policy
def kl_divergence(new_actor, old_actor, states):
    """KL(pi_old || pi_new) per state. states: (T, state_size) -> (T,).

    Gaussian: sum_j [ log(std_j / std_old_j) + (std_old_j^2 + (mu_old_j - mu_j)^2) / (2 std_j^2) - 1/2 ]
    Categorical: sum_a p_old_a (log p_old_a - log p_a)
    old_actor's outputs are detached, so the gradient flows only into new_actor;
    with old_actor = new_actor the KL is 0 but its Hessian is the Fisher matrix (hessian_vector_product).
    """
    return old_actor(states).detach().kl(new_actor(states))


# step 4: the Hessian of the mean KL times a vector, for conjugate gradient
class FisherGraph(NamedTuple):
    """The policy's forward pass on the batch, kept for every H p of one update (fisher_graph builds it)."""
    params: list  # the actor's parameters theta
    policy: object  # pi_theta_old(.|s) on the batch, with its graph: Gaussian or Categorical
    outputs: list  # the outputs H is a metric on: mu (and std when learned), or the logits
    dummies: list  # u, zeros shaped as outputs: J^T u is linear in u, so grad of (J^T u) . p in u is J p
    Jt_u: torch.Tensor  # J^T u, flat, with its graph


def fisher_graph(actor, states):
    """The forward pass of actor on states (T, state_size), done once per update for hessian_vector_product."""
    params = list(actor.parameters())
    policy = actor(states)
    outputs = policy.fisher_outputs()
    dummies = [torch.zeros_like(out, requires_grad=True) for out in outputs]
    Jt_u = flat_grad(torch.autograd.grad(outputs, params, grad_outputs=dummies, create_graph=True))
    return FisherGraph(params, policy, outputs, dummies, Jt_u)


def hessian_vector_product(graph, p, damping=0.1):
    """(H + damping * I) p, with H = d^2/dtheta^2 mean_s KL(pi_theta_old || pi_theta) at theta_old.

    The slides compute H p = grad_theta( grad_theta(KL)^T p ) by a double backward through the KL. At
    theta_old the same Hessian is the Fisher matrix, H = mean_s J^T M J, with J the Jacobian of the
    policy's outputs in theta and M the KL's Hessian in those outputs:

        Gaussian:    H = mean_s [ J_mu^T diag(1 / std^2) J_mu + J_std^T diag(2 / std^2) J_std ]
        Categorical: H = mean_s [ J_logits^T (diag(p) - p p^T) J_logits ]

    (the J_std term only when std depends on theta). graph = fisher_graph(actor, states) holds the
    forward pass, done once per update; each product is then J p by a double vjp on it and J^T (M J p)
    by one backward: the terms of the double backward that are multiplied by pi - pi_old = 0 are never
    computed. Valid while the actor's parameters stay at theta_old (steps 4 and 5).
    """
    p = p.detach()
    Jp = torch.autograd.grad(graph.Jt_u @ p, graph.dummies, retain_graph=True)
    MJp = graph.policy.fisher_metric(Jp, len(graph.outputs[0]))  # / T: the mean over states
    return flat_grad(torch.autograd.grad(graph.outputs, graph.params, grad_outputs=MJp, retain_graph=True)) + damping * p


def conjugate_gradient(Avp, b, nsteps=10, residual_tol=1e-10):
    """Approximately solve A x = b for symmetric positive definite A, given only Avp(v) = A v.

    Starts from x = 0, so the first residual is r = b - A x = b (no A x needed).
    Stops after nsteps iterations or once r^T r < residual_tol (at once if b = 0).
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rdotr = r @ r
    for _ in range(nsteps):
        if rdotr < residual_tol:  # checked before the first step too: b = 0 gives x = 0, not 0/0
            break
        Ap = Avp(p)
        alpha = rdotr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        new_rdotr = r @ r
        p = r + (new_rdotr / rdotr) * p
        rdotr = new_rdotr
    return x


class LineSearchResult(NamedTuple):
    accepted: bool
    step_fraction: float  # alpha^j of the accepted step, 0.0 if rejected
    kl: float  # mean KL(pi_old || pi_new) after the update, 0.0 if rejected
    improvement: float  # L(theta_new) - L(theta_old), 0.0 if rejected
    expected_improvement: float  # first-order prediction g^T (alpha^j * maximal_step)
    backtracks: int = 0  # j, the number of halvings before the accepted step (max_backtracks if rejected)


# step 6: backtracking line search inside the trust region
@torch.no_grad()
def backtracking_line_search(old_actor, actor, actor_loss, actor_loss_grad, old_policy,
                             params, maximal_step, max_kl, advantages, states, actions,
                             backtrac_coef=0.5, accept_ratio=0.5, max_backtracks=10):
    """theta_new = theta_old + backtrac_coef^j * maximal_step for the smallest j in 0..max_backtracks-1 with

        mean KL(pi_old || pi_new) <= max_kl   and
        L(theta_new) - L(theta_old) > accept_ratio * g^T (backtrac_coef^j * maximal_step) > 0.

    actor holds theta_old on entry (= params, = old_actor's weights). If no fraction
    is accepted the old parameters are restored exactly (the flat copy params).
    """
    full_expected_improve = float(actor_loss_grad @ maximal_step)
    fraction = 1.0
    for j in range(max_backtracks):
        update_model(actor, params + fraction * maximal_step)
        improvement = float(surrogate_loss(actor, advantages, states, old_policy, actions) - actor_loss)
        expected_improve = fraction * full_expected_improve  # first order in the step, not compounded
        kl = float(kl_divergence(new_actor=actor, old_actor=old_actor, states=states).mean())
        if kl <= max_kl and improvement > 0 and improvement > accept_ratio * expected_improve:
            return LineSearchResult(True, fraction, kl, improvement, expected_improve, j)
        fraction *= backtrac_coef
    update_model(actor, params)
    return LineSearchResult(False, 0.0, 0.0, 0.0, full_expected_improve, max_backtracks)
