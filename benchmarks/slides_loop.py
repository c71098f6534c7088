"""The slides' training loop as printed, on Gymnasium: the baseline for speed and learning.

Changed only where today's stack requires it: Gymnasium's reset/step API, stacking the
trajectories without a ragged np.array, and explicit seeding. Kept as on the slides:
one environment, a batch-of-1 forward and a Normal per step, the double-backward
Fisher-vector product rebuilt in every CG iteration, and the line search's compounding
expected improvement. Not part of the package; benchmarks compare the package with it.

    python benchmarks/slides_loop.py --seed 500 [--max_iter_num 500]
    python benchmarks/slides_loop.py --seed 1 2 3 4 5 6 7 8 9 10 --out slides_loop.json
"""
import argparse
import json
import sys
import time
from collections import deque

import numpy as np
import torch
import torch.optim as optim

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere: python benchmarks/slides_loop.py

from trpo.envs import make_env
from trpo.model import Actor, Critic
from trpo.utils import flat_grad, flat_params, get_returns, kl_divergence, update_model
from torch.distributions import Normal


def hessian_vector_product(actor, states, p, damping=1e-1):
    """The slides' H p: the mean KL rebuilt, its gradient with create_graph, then the gradient of (grad^T p)."""
    kl = kl_divergence(new_actor=actor, old_actor=actor, states=states).mean()
    kl_grad = flat_grad(torch.autograd.grad(kl, actor.parameters(), create_graph=True))
    return flat_grad(torch.autograd.grad(kl_grad @ p.detach(), actor.parameters())) + damping * p


def slides_surrogate(actor, advantages, states, old_policy, actions):
    mu, std = actor(states)
    new_policy = Normal(mu, std).log_prob(actions)  # per dimension, as printed
    return (torch.exp(new_policy - old_policy) * advantages).mean()


def slides_conjugate_gradient(actor, states, b, nsteps, residual_tol=1e-10):
    x = torch.zeros(b.size())
    r, p = b.clone(), b.clone()
    rdotr = torch.dot(r, r)
    for _ in range(nsteps):
        Ap = hessian_vector_product(actor, states, p, damping=1e-1)
        alpha = rdotr / torch.dot(p, Ap)
        x += alpha * p
        r -= alpha * Ap
        new_rdotr = torch.dot(r, r)
        p = r + (new_rdotr / rdotr) * p
        rdotr = new_rdotr
        if rdotr < residual_tol:
            break
    return x


def slides_line_search(old_actor, actor, actor_loss, actor_loss_grad, old_policy, params,
                       maximal_step, max_kl, advantages, states, actions):
    backtrac_coef, alpha, beta = 1.0, 0.5, 0.5
    expected_improve = (actor_loss_grad * maximal_step).sum(0, keepdim=True)
    for _ in range(10):
        update_model(actor, params + backtrac_coef * maximal_step)
        new_actor_loss = slides_surrogate(actor, advantages, states, old_policy, actions)
        loss_improve = new_actor_loss - actor_loss
        expected_improve *= backtrac_coef  # compounds: 1, 1/2, 1/8, 1/64, ... as on the slides
        kl = kl_divergence(new_actor=actor, old_actor=old_actor, states=states).mean()
        if kl < max_kl and loss_improve / expected_improve > alpha:
            return
        backtrac_coef *= beta
    update_model(actor, flat_params(old_actor))


def slides_train_model(actor, critic, critic_optimizer, trajectories, args):
    states = torch.Tensor(np.vstack([t[0] for t in trajectories]))
    actions = torch.Tensor(np.vstack([t[1] for t in trajectories]))
    rewards = torch.Tensor([t[2] for t in trajectories])
    masks = torch.Tensor([t[3] for t in trajectories])
    returns = get_returns(rewards, masks, args.gamma)  # step 1
    values = critic(states)  # step 2
    targets = returns.unsqueeze(1)
    critic_loss = torch.nn.MSELoss()(values, targets)
    critic_optimizer.zero_grad()
    critic_loss.backward()
    critic_optimizer.step()
    advantages = (targets - values).detach()  # step 3
    mu, std = actor(states)
    old_policy = Normal(mu, std).log_prob(actions).detach()
    actor_loss = slides_surrogate(actor, advantages, states, old_policy, actions)
    actor_loss_grad = flat_grad(torch.autograd.grad(actor_loss, actor.parameters()))
    search_dir = slides_conjugate_gradient(actor, states, actor_loss_grad.data, nsteps=10)  # step 4
    gHg = (hessian_vector_product(actor, states, search_dir) * search_dir).sum(0, keepdim=True)  # step 5
    maximal_step = torch.sqrt(2 * args.max_kl / gHg)[0] * search_dir
    params = flat_params(actor)  # step 6
    old_actor = Actor(actor.fc1.in_features, actor.fc3.out_features, actor.fc1.out_features)
    update_model(old_actor, params)
    slides_line_search(old_actor, actor, actor_loss.detach(), actor_loss_grad, old_policy, params,
                       maximal_step, args.max_kl, advantages, states, actions)


def run(args, on_iteration=None):
    """The slides' main(); on_iteration(iter, steps, avg100, seconds) is called after each update."""
    env = make_env(args.env_name)
    torch.manual_seed(args.seed)
    state_size, action_size = env.observation_space.shape[0], env.action_space.shape[0]
    actor, critic = Actor(state_size, action_size, 64), Critic(state_size, 64)
    critic_optimizer = optim.Adam(critic.parameters(), lr=1e-3)
    recent_rewards, total_steps, seed = deque(maxlen=100), 0, args.seed
    for it in range(args.max_iter_num):
        start = time.perf_counter()
        trajectories, steps = deque(), 0
        while steps < args.total_sample_size:
            state, _ = env.reset(seed=seed)
            seed, done, score = None, False, 0.0
            state = np.reshape(state, [1, state_size])
            while not done:
                steps += 1
                mu, std = actor(torch.Tensor(state))
                action = Normal(mu, std).sample().data.numpy()
                next_state, reward, terminated, truncated, _ = env.step(action[0])
                done = terminated or truncated
                trajectories.append((state, action, reward, 0 if done else 1))
                state = np.reshape(next_state, [1, state_size])
                score += reward
            recent_rewards.append(score)
        slides_train_model(actor, critic, critic_optimizer, trajectories, args)
        total_steps += steps
        avg = float(np.mean(recent_rewards))
        if on_iteration:
            on_iteration(it, total_steps, avg, time.perf_counter() - start)
        if avg > args.goal_score:
            break
    return avg, total_steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--env_name', default='Pendulum-v1')
    p.add_argument('--seed', type=int, nargs='+', default=[500],
                   help='one run per seed; with several, a line per seed and the median and range')
    p.add_argument('--gamma', type=float, default=0.99)
    p.add_argument('--max_kl', type=float, default=1e-2)
    p.add_argument('--max_iter_num', type=int, default=500)
    p.add_argument('--total_sample_size', type=int, default=2048)
    p.add_argument('--goal_score', type=float, default=-300)
    p.add_argument('--out', default=None, help='write {seed: steps when the goal was reached, or null} as JSON')
    args = p.parse_args()
    reached = {}
    for seed in args.seed:
        run_args = argparse.Namespace(**{**vars(args), 'seed': seed})
        avg, steps = run(run_args, None if len(args.seed) > 1 else lambda it, steps, avg, sec: it % 5 == 0 and print(
            f'{it} iter | {steps} steps | score_avg: {avg:.2f} | {sec * 1000:.0f} ms/iter', flush=True))
        reached[seed] = steps if avg > args.goal_score else None
        print(f'slides loop, seed {seed}: score_avg {avg:.2f} after {steps} steps', flush=True)
    if len(args.seed) > 1:
        steps = sorted(s if s is not None else float('inf') for s in reached.values())
        print(f'steps until the 100-episode average exceeds {args.goal_score:g}, seeds {args.seed}: '
              f'median {np.median(steps):,.0f}, range {steps[0]:,.0f} to {steps[-1]:,.0f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(reached, f)


if __name__ == '__main__':
    main()
