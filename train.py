"""Train a TRPO policy, as on the slides: python train.py [flags]; tensorboard --logdir logs."""
import argparse
import os
import tempfile
import time
from collections import deque

import numpy as np
import torch
import torch.optim as optim
from tensorboardX import SummaryWriter

from trpo.checkpoint import load_policy, save_policy
from trpo.cli import ArgumentParser, run_main
from trpo.envs import auto_num_envs, check_display, env_sizes, make_vector_env, resolve_env_name
from trpo.errors import UserError
from trpo.model import Actor, Critic
from trpo.sampler import collect_trajectories
from trpo.update import train_model


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__)
    # the slides' flags, same names and defaults
    p.add_argument('--env_name', type=str, default='Pendulum-v1',
                   help='Gymnasium id with Box spaces (Pendulum-v0 is accepted and means Pendulum-v1)')
    p.add_argument('--load_model', type=str, default=None,
                   help='model.pth whose actor weights start the training')
    p.add_argument('--save_path', default='./save_model/', help='folder for model.pth')
    p.add_argument('--render', action='store_true', default=False,
                   help='show the environment in a window while training (uses 1 environment)')
    p.add_argument('--gamma', type=float, default=0.99, help='discount gamma in (0, 1]; 0.99 for Pendulum')
    p.add_argument('--hidden_size', type=int, default=64, help='units in each of the 2 hidden layers')
    p.add_argument('--critic_lr', type=float, default=1e-3, help='Adam learning rate of the critic')
    p.add_argument('--max_kl', type=float, default=1e-2,
                   help='trust-region radius delta: mean KL(pi_old || pi_new) <= delta; 0.01 to 0.05 is usual')
    p.add_argument('--max_iter_num', type=int, default=500, help='number of iterations (batch + update)')
    p.add_argument('--total_sample_size', type=int, default=2048,
                   help='each batch collects whole episodes until it holds at least this many steps')
    p.add_argument('--log_interval', type=int, default=5, help='print a console line every this many iterations')
    p.add_argument('--goal_score', type=int, default=-300,
                   help='stop and save once the mean return of the last 100 episodes exceeds this')
    p.add_argument('--logdir', type=str, default='./logs',
                   help='tensorboardX logs directory (one subfolder per run)')
    # added
    p.add_argument('--seed', type=int, default=500, help='seed of torch and of the environments (the slides use 500)')
    p.add_argument('--num_envs', type=num_envs_flag, default='auto',
                   help='environments sampled side by side; auto: one episode each per batch, '
                        'ceil(total_sample_size / episode limit), at most 16 (Pendulum: 11)')
    p.add_argument('--vector_mode', choices=['sync', 'async'], default='sync',
                   help='sync: all environments in this process; async: one process per environment')
    p.add_argument('--threads', type=int, default=1,
                   help='torch intra-op threads; 1 is fastest for networks this small (see README, Performance)')
    return p.parse_args(argv)


def num_envs_flag(text):
    """'auto' or a positive integer."""
    if text == 'auto':
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got '{text}'") from None


def check_args(args):
    """Reject values the algorithm cannot use, before anything is built."""
    positive = ['max_kl', 'total_sample_size', 'hidden_size', 'critic_lr', 'log_interval', 'max_iter_num',
                'threads']
    for name in positive:
        if not getattr(args, name) > 0:
            raise UserError(f"--{name} must be positive, got {getattr(args, name)}")
    if args.num_envs != 'auto' and args.num_envs < 1:
        raise UserError(f"--num_envs must be 'auto' or positive, got {args.num_envs}")
    if not 0 < args.gamma <= 1:
        raise UserError(f"--gamma must be in (0, 1], got {args.gamma}")
    for flag, folder in (('--save_path', args.save_path), ('--logdir', args.logdir)):
        check_writable(flag, folder)


def check_writable(flag, folder):
    """Create folder if needed and prove a file can be written there, before training starts."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"{flag} '{folder}' is not writable ({e.strerror}); choose another folder") from None


def new_run_dir(logdir, env_name, seed):
    """logs/<env>_seed<seed>_<date-time>[_k]: one folder per run, so runs never mix."""
    base = os.path.join(logdir, f"{env_name}_seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}")
    path, k = base, 1
    while os.path.exists(path):
        path, k = f"{base}_{k}", k + 1
    return path


def log_episodes(writer, rollout, episodes, total_steps, recent_rewards):
    """log/score per episode (x = episode number), score/episode (x = env steps at its end)."""
    steps_at_end = total_steps + np.cumsum(rollout.episode_lengths)
    for score, steps in zip(rollout.episode_returns, steps_at_end):
        episodes += 1
        recent_rewards.append(score)
        writer.add_scalar('log/score', score, episodes)
        writer.add_scalar('score/episode', score, int(steps))
    return episodes


def log_update(writer, info, avg100, steps_per_second, total_steps):
    for tag, value in (('score/avg100', avg100), ('loss/critic', info.critic_loss), ('trpo/kl', info.kl),
                       ('trpo/step_fraction', info.step_fraction),
                       ('trpo/surrogate_improvement', info.surrogate_improvement),
                       ('time/steps_per_second', steps_per_second)):
        writer.add_scalar(tag, value, total_steps)


def build_models(args, env_name, state_size, action_size):
    actor = Actor(state_size, action_size, args.hidden_size)
    critic = Critic(state_size, args.hidden_size)
    if args.load_model:
        loaded, info = load_policy(args.load_model)
        if (info['env_name'], info['state_size'], info['action_size'], info['hidden_size']) != \
                (env_name, state_size, action_size, args.hidden_size):
            raise UserError(f"--load_model '{args.load_model}' holds a policy for {info['env_name']} with "
                            f"hidden_size {info['hidden_size']}; pass the matching --env_name and --hidden_size")
        actor.load_state_dict(loaded.state_dict())
    return actor, critic


def train(args):
    """Run the training; returns [(environment steps, 100-episode average, seconds)] per iteration."""
    check_args(args)
    env_name = resolve_env_name(args.env_name)
    if args.render:
        check_display()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    num_envs = 1 if args.render else auto_num_envs(env_name, args.total_sample_size, args.num_envs)
    envs = make_vector_env(env_name, num_envs, args.vector_mode,
                           render_mode='human' if args.render else None)
    state_size, action_size = env_sizes(envs)
    print('state size:', state_size)
    print('action size:', action_size)
    actor, critic = build_models(args, env_name, state_size, action_size)
    critic_optimizer = optim.Adam(critic.parameters(), lr=args.critic_lr)
    model_path = os.path.join(args.save_path, 'model.pth')
    writer = SummaryWriter(new_run_dir(args.logdir, env_name, args.seed))

    recent_rewards = deque(maxlen=100)
    episodes, total_steps, history = 0, 0, []
    try:
        for iteration in range(args.max_iter_num):
            start = time.perf_counter()
            rollout = collect_trajectories(envs, actor, args.total_sample_size,
                                           seed=args.seed if iteration == 0 else None)
            info = train_model(actor, critic, critic_optimizer, rollout.batch, args.gamma, args.max_kl)
            seconds = time.perf_counter() - start
            steps_per_second = len(rollout.batch.rewards) / seconds

            episodes = log_episodes(writer, rollout, episodes, total_steps, recent_rewards)
            total_steps += len(rollout.batch.rewards)
            avg100 = float(np.mean(recent_rewards))
            history.append((total_steps, avg100, seconds))
            log_update(writer, info, avg100, steps_per_second, total_steps)
            if iteration % args.log_interval == 0:
                print(f'{iteration} iter | {episodes} episode | {total_steps} steps | score_avg: {avg100:.2f}')
            if avg100 > args.goal_score:
                print(f'Recent rewards exceed {args.goal_score} after {total_steps} steps. So end')
                break
        save_policy(model_path, actor, env_name, state_size, action_size, args.hidden_size)
        print(f'saved {model_path}')
    finally:
        writer.close()
        envs.close()
    return history


def main(argv=None):
    return run_main('train.py', lambda: train(parse_args(argv)))


if __name__ == '__main__':
    main()
