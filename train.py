"""Train a TRPO policy, as on the slides: python train.py [flags]; tensorboard --logdir logs.

Every iteration writes <save_path>/checkpoint.pth; python train.py --load_model
<save_path>/checkpoint.pth continues that run exactly where it stopped.
"""
import argparse
import os
import signal
import sys
import tempfile
import time
from contextlib import closing

import numpy as np
import torch
import torch.optim as optim
from tensorboardX import SummaryWriter

from trpo.checkpoint import (Progress, load_checkpoint, load_policy, restore_checkpoint, save_checkpoint,
                             save_policy)
from trpo.cli import ArgumentParser, StopRequest, run_main
from trpo.envs import auto_num_envs, check_display, env_sizes, make_vector_env, resolve_env_name
from trpo.errors import Interrupted, UserError
from trpo.model import Actor, Critic
from trpo.sampler import collect_trajectories
from trpo.update import train_model


def build_parser():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the slides' flags, same names and defaults
    p.add_argument('--env_name', type=str, default='Pendulum-v1',
                   help='Gymnasium id with Box spaces (Pendulum-v0 is accepted and means Pendulum-v1)')
    p.add_argument('--load_model', type=str, default=None,
                   help='a checkpoint.pth continues its run (flags not given default to its own); '
                        'a model.pth gives the actor weights to start a new run from')
    p.add_argument('--save_path', default='./save_model/', help='folder for model.pth and checkpoint.pth')
    p.add_argument('--render', action='store_true', default=False,
                   help='show the environment in a window while training (uses 1 environment)')
    p.add_argument('--gamma', type=float, default=0.99, help='discount gamma in (0, 1]; 0.99 for Pendulum')
    p.add_argument('--hidden_size', type=int, default=64, help='units in each of the 2 hidden layers')
    p.add_argument('--critic_lr', type=float, default=1e-3, help='Adam learning rate of the critic')
    p.add_argument('--max_kl', type=float, default=1e-2,
                   help='trust-region radius delta: mean KL(pi_old || pi_new) <= delta; 0.01 to 0.05 is usual')
    p.add_argument('--max_iter_num', type=int, default=500,
                   help='number of iterations (batch + update), counting those of a resumed checkpoint')
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
    return p


def parse_args(argv=None):
    """Returns (args, checkpoint). With --load_model CHECKPOINT the flags not given take the
    checkpoint's values, so 'python train.py --load_model save_model/checkpoint.pth' just continues."""
    parser = build_parser()
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(args.load_model) if args.load_model else None
    if checkpoint:
        parser.set_defaults(**{k: v for k, v in checkpoint['flags'].items() if k != 'load_model'})
        args = parser.parse_args(argv)
    return args, checkpoint


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


def check_resume(args, env_name, checkpoint):
    """A checkpoint continues only under the flags that shaped it, and only if it has work left."""
    saved = checkpoint['flags']
    for flag, given, was in (('env_name', env_name, saved['env_name']),
                             ('hidden_size', args.hidden_size, saved['hidden_size']),
                             ('num_envs', args.num_envs, saved['num_envs'])):
        if given != was:
            raise UserError(f"checkpoint '{args.load_model}' was trained with --{flag} {was}, not {given}; "
                            f"drop --{flag} to continue it, or start a new run without --load_model")
    if checkpoint['iteration'] >= args.max_iter_num:
        raise UserError(f"checkpoint '{args.load_model}' has done {checkpoint['iteration']} iterations, "
                        f"--max_iter_num is {args.max_iter_num} (it counts them all); pass a larger one")
    recent = checkpoint['recent_rewards']
    if recent and np.mean(recent) > args.goal_score:
        raise UserError(f"checkpoint '{args.load_model}' already reached --goal_score {args.goal_score} "
                        f"(average {np.mean(recent):.1f}); pass a higher --goal_score to train on")


def check_writable(flag, folder):
    """Create folder if needed and prove a file can be written there, before training starts."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"{flag} '{folder}' is not writable ({e.strerror}); choose another folder") from None


def new_run_dir(logdir, env_name, seed):
    """logs/<env>_seed<seed>_<date-time>[_k] (absolute): one folder per run, so runs never mix."""
    base = os.path.abspath(os.path.join(logdir, f"{env_name}_seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}"))
    path, k = base, 1
    while os.path.exists(path):
        path, k = f"{base}_{k}", k + 1
    return path


def log_episodes(writer, rollout, progress):
    """log/score per episode (x = episode number), score/episode (x = env steps at its end)."""
    steps_at_end = progress.total_steps + np.cumsum(rollout.episode_lengths)
    for score, steps in zip(rollout.episode_returns, steps_at_end):
        progress.episodes += 1
        progress.recent_rewards.append(score)
        writer.add_scalar('log/score', score, progress.episodes)
        writer.add_scalar('score/episode', score, int(steps))


def log_update(writer, info, avg100, steps_per_second, total_steps):
    for tag, value in (('score/avg100', avg100), ('loss/critic', info.critic_loss), ('trpo/kl', info.kl),
                       ('trpo/step_fraction', info.step_fraction),
                       ('trpo/surrogate_improvement', info.surrogate_improvement),
                       ('trpo/skipped', float(bool(info.skipped))),
                       ('time/steps_per_second', steps_per_second)):
        writer.add_scalar(tag, value, total_steps)


def start_run(args, env_name, state_size, action_size, checkpoint):
    """Actor, critic, critic optimizer, Progress and TensorBoard folder: new (the actor
    from --load_model's model.pth if given), or as the checkpoint left them."""
    actor = Actor(state_size, action_size, args.hidden_size)
    critic = Critic(state_size, args.hidden_size)
    critic_optimizer = optim.Adam(critic.parameters(), lr=args.critic_lr)
    if checkpoint:
        return actor, critic, critic_optimizer, checkpoint['run_dir']
    if args.load_model:
        loaded, info = load_policy(args.load_model)
        if (info['env_name'], info['state_size'], info['action_size'], info['hidden_size']) != \
                (env_name, state_size, action_size, args.hidden_size):
            raise UserError(f"--load_model '{args.load_model}' holds a policy for {info['env_name']} with "
                            f"hidden_size {info['hidden_size']}; pass the matching --env_name and --hidden_size")
        actor.load_state_dict(loaded.state_dict())
    return actor, critic, critic_optimizer, new_run_dir(args.logdir, env_name, args.seed)


def open_writer(run_dir, progress, resuming):
    """The run's SummaryWriter. A resumed run adds its own event file to the same folder
    (tensorboardX names files by the second: a shared name would truncate the earlier one),
    and purges what a crashed run logged after its checkpoint's last step."""
    if not resuming:
        return SummaryWriter(run_dir)
    return SummaryWriter(run_dir, purge_step=progress.total_steps + 1,
                         filename_suffix=f'.resumed{progress.iteration}.{os.getpid()}')


def run_iteration(args, envs, actor, critic, critic_optimizer, progress, writer):
    """The slides' loop body: one batch, one update (steps 1-6), the logs. Returns (avg100, seconds)."""
    start = time.perf_counter()
    rollout = collect_trajectories(envs, actor, args.total_sample_size,
                                   seed=args.seed if progress.iteration == 0 else None)
    info = train_model(actor, critic, critic_optimizer, rollout.batch, args.gamma, args.max_kl)
    seconds = time.perf_counter() - start

    log_episodes(writer, rollout, progress)
    progress.total_steps += len(rollout.batch.rewards)
    avg100 = float(np.mean(progress.recent_rewards))
    log_update(writer, info, avg100, len(rollout.batch.rewards) / seconds, progress.total_steps)
    if info.skipped:
        print(f'warning: iteration {progress.iteration}: policy update skipped: {info.skipped}', file=sys.stderr)
    if progress.iteration % args.log_interval == 0:
        print(f'{progress.iteration} iter | {progress.episodes} episode | {progress.total_steps} steps | '
              f'score_avg: {avg100:.2f}')
    progress.iteration += 1
    return avg100, seconds


def train(args, checkpoint=None):
    """Run the training, or continue the checkpoint's; returns [(environment steps,
    100-episode average, seconds)] for each iteration run now."""
    check_args(args)
    args.env_name = env_name = resolve_env_name(args.env_name)
    if args.render:
        check_display()
    args.num_envs = 1 if args.render else auto_num_envs(env_name, args.total_sample_size, args.num_envs)
    if checkpoint:
        check_resume(args, env_name, checkpoint)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model_path = os.path.join(args.save_path, 'model.pth')
    checkpoint_path = os.path.join(args.save_path, 'checkpoint.pth')
    with closing(make_vector_env(env_name, args.num_envs, args.vector_mode,
                                 render_mode='human' if args.render else None)) as envs:
        state_size, action_size = env_sizes(envs)
        print('state size:', state_size)
        print('action size:', action_size)
        actor, critic, critic_optimizer, run_dir = start_run(args, env_name, state_size, action_size, checkpoint)
        progress = Progress()
        if checkpoint:
            progress = restore_checkpoint(checkpoint, args.load_model, actor, critic, critic_optimizer, envs)
            print(f'resuming {run_dir} after iteration {progress.iteration} ({progress.total_steps} steps)')
        history = []
        with closing(open_writer(run_dir, progress, checkpoint)) as writer, StopRequest() as stop:
            while progress.iteration < args.max_iter_num and not stop.signum:
                avg100, seconds = run_iteration(args, envs, actor, critic, critic_optimizer, progress, writer)
                history.append((progress.total_steps, avg100, seconds))
                save_checkpoint(checkpoint_path, args, run_dir, progress, actor, critic, critic_optimizer, envs)
                if avg100 > args.goal_score:
                    print(f'Recent rewards exceed {args.goal_score} after {progress.total_steps} steps. So end')
                    break
            save_policy(model_path, actor, env_name, state_size, action_size, args.hidden_size)
            print(f'saved {model_path}')
    if stop.signum:
        raise Interrupted(f"stopped by {signal.Signals(stop.signum).name} after iteration {progress.iteration} "
                          f"({progress.total_steps} steps); continue with: python train.py --load_model "
                          f"{checkpoint_path}", stop.signum)
    return history


def main(argv=None):
    return run_main('train.py', lambda: train(*parse_args(argv)))


if __name__ == '__main__':
    main()
