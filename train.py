"""Train a TRPO policy, as on the slides: python train.py [flags]; tensorboard --logdir logs.

Every iteration writes <save_path>/checkpoint.pth; python train.py --load_model
<save_path>/checkpoint.pth continues that run exactly where it stopped.
"""
import argparse
import math
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

from trpo.checkpoint import (Progress, actor_options, find_model, load_checkpoint, load_policy,
                             restore_checkpoint, save_checkpoint, save_policy)
from trpo.cli import ArgumentParser, StopRequest, run_main, seed_arg
from trpo.envs import auto_num_envs, check_display, env_sizes, make_vector_env, resolve_env_name
from trpo.errors import Interrupted, UserError
from trpo.model import Actor, Critic
from trpo.sampler import collect_trajectories
from trpo.presets import apply_preset
from trpo.update import UpdateOptions, train_model, update_running_stats


def build_parser():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the slides' flags, same names and defaults
    p.add_argument('--env_name', type=str, default='Pendulum-v1',
                   help='Gymnasium id with Box spaces (Pendulum-v0 is accepted and means Pendulum-v1)')
    p.add_argument('--load_model', type=str, default=None,
                   help='a checkpoint.pth continues its run (flags not given default to its own); '
                        'a model.pth gives the actor weights to start a new run from. A bare file name not '
                        'found where given is looked up in --save_path, as on the slides')
    p.add_argument('--save_path', default='./save_model/', help='folder for model.pth and checkpoint.pth')
    p.add_argument('--render', action='store_true', default=False,
                   help='show the environment in a window while training (uses 1 environment)')
    p.add_argument('--gamma', type=float, default=None,
                   help='discount gamma in (0, 1]; preset: 0.99 (tuned on Pendulum: 0.95, Hopper-v5: 0.995)')
    p.add_argument('--hidden_size', type=int, default=64, help='units in each of the 2 hidden layers')
    p.add_argument('--critic_lr', type=float, default=None,
                   help='Adam learning rate of the critic; preset: 1e-3 (tuned on Hopper-v5: 3e-4)')
    p.add_argument('--max_kl', type=float, default=None,
                   help='trust-region radius delta: mean KL(pi_old || pi_new) <= delta; preset: 0.01 '
                        '(tuned on Pendulum: 0.03, Hopper-v5: 0.04, shrinking linearly)')
    p.add_argument('--max_iter_num', type=int, default=None,
                   help='number of iterations (batch + update), counting those of a resumed checkpoint; '
                        'default: 500, or no limit when --max_env_steps is given')
    p.add_argument('--total_sample_size', type=int, default=None,
                   help='each batch collects whole episodes until it holds at least this many steps; '
                        'preset: 2048 (tuned on Pendulum and Hopper-v5: 1024, HalfCheetah-v5: 1000)')
    p.add_argument('--log_interval', type=int, default=5, help='print a console line every this many iterations')
    p.add_argument('--goal_score', type=float, default=None,
                   help="stop and save once the mean return of the last 100 episodes exceeds this; "
                        "default: -300 on Pendulum (the slides'), else the environment's reward_threshold, else none")
    p.add_argument('--logdir', type=str, default='./logs',
                   help='tensorboardX logs directory (one subfolder per run)')
    # added
    p.add_argument('--seed', type=seed_arg, default=500,
                   help='seed of torch and of the environments (the slides use 500)')
    p.add_argument('--num_envs', type=word_or('auto', int, 'a positive integer'), default='auto',
                   help='environments sampled side by side; auto: one episode each per batch, '
                        'ceil(total_sample_size / episode limit), at most 16 (Pendulum: 11)')
    p.add_argument('--vector_mode', choices=['sync', 'async'], default='sync',
                   help='sync: all environments in this process; async: one process per environment')
    p.add_argument('--threads', type=int, default=1,
                   help='torch intra-op threads; 1 is fastest for networks this small (see README, Performance)')
    p.add_argument('--max_env_steps', type=int, default=None,
                   help='also stop once this many environment steps are done (the usual benchmark budget); '
                        'preset: none (tuned on Hopper-v5: 1,000,000)')
    # the preset, and each of its switches (None: the preset's value)
    p.add_argument('--preset', choices=['slides', 'tuned'], default='slides',
                   help="slides: the slides' algorithm; tuned: all of the switches below on (see README, Presets)")
    p.add_argument('--gae_lambda', type=word_or('off', float, 'a number in [0, 1]'), default=None,
                   help="GAE(lambda) advantages in [0, 1], the critic fitting lambda-returns; 'off': the slides' "
                        "normalized Monte-Carlo returns; preset: off (tuned: 0.95)")
    p.add_argument('--bootstrap_truncation', action=argparse.BooleanOptionalAction, default=None,
                   help='with GAE, continue an episode cut by the time limit with V(s_next), since a truncation '
                        'is not a terminal state; preset: off (tuned: on)')
    p.add_argument('--learn_std', action=argparse.BooleanOptionalAction, default=None,
                   help='learn a state-independent log std (else std is fixed); preset: off (tuned: on)')
    p.add_argument('--log_std_init', type=float, default=None,
                   help='initial log std (the fixed one without --learn_std); preset: 0 (tuned: -0.5, Hopper-v5: 0)')
    p.add_argument('--normalize_obs', action=argparse.BooleanOptionalAction, default=None,
                   help='running mean/std observation normalization, saved in model.pth; preset: off (tuned: on)')
    p.add_argument('--scale_rewards', action=argparse.BooleanOptionalAction, default=None,
                   help='divide rewards by the running std of the discounted return, so the critic fits '
                        'values of order 1; preset: off (tuned: on)')
    p.add_argument('--normalize_advantages', action=argparse.BooleanOptionalAction, default=None,
                   help='advantages to mean 0, std 1 per batch; preset: off (tuned: on)')
    p.add_argument('--ortho_init', action=argparse.BooleanOptionalAction, default=None,
                   help='orthogonal initialization, the policy mean layer scaled by 0.01; '
                        'preset: off (tuned on HalfCheetah-v5: on)')
    p.add_argument('--critic_epochs', type=int, default=None,
                   help='passes of Adam over each batch for the critic; preset: 1 (tuned: 20)')
    p.add_argument('--critic_batch_size', type=int, default=None,
                   help='critic minibatch size, 0 for the whole batch; preset: 0 (tuned: 64)')
    p.add_argument('--critic_hidden_size', type=int, default=None,
                   help="units in each of the critic's 2 hidden layers, 0 for --hidden_size; preset: 0 "
                        "(tuned on Hopper-v5: 256)")
    p.add_argument('--max_kl_schedule', choices=['constant', 'linear'], default=None,
                   help='linear: the trust region shrinks from --max_kl to --max_kl_final over --max_env_steps, '
                        'for a calmer final policy; preset: constant (tuned on Hopper-v5: linear)')
    p.add_argument('--max_kl_final', type=float, default=None,
                   help='where the linear schedule ends, in [0, --max_kl]; preset: 0')
    p.add_argument('--cg_iters', type=int, default=None,
                   help='conjugate-gradient iterations for the search direction H^-1 g; preset: 10')
    p.add_argument('--cg_damping', type=float, default=None,
                   help='damping c in (H + c I) s = g, for a well-conditioned solve; preset: 0.1')
    return p


def word_or(word, convert, expected):
    """An argparse type: the literal word, or convert(text)."""
    def parse(text):
        if text == word:
            return text
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected '{word}' or {expected}, got '{text}'") from None
    return parse


def parse_args(argv=None):
    """Returns (args, checkpoint). With --load_model CHECKPOINT the flags not given take the
    checkpoint's values, so 'python train.py --load_model save_model/checkpoint.pth' just continues."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.load_model:
        args.load_model = find_model(args.load_model, args.save_path)  # a bare name: in --save_path, as on the slides
    checkpoint = load_checkpoint(args.load_model) if args.load_model else None
    if checkpoint:
        checkpoint['flags'].setdefault('critic_hidden_size', 0)  # older checkpoints: a critic as wide as the actor
        parser.set_defaults(**{k: v for k, v in checkpoint['flags'].items() if k != 'load_model'})
        load_model, args = args.load_model, parser.parse_args(argv)
        args.load_model = load_model
    return args, checkpoint


def check_args(args):
    """Reject values the algorithm cannot use, before anything is built."""
    positive = ['max_kl', 'total_sample_size', 'hidden_size', 'critic_lr', 'log_interval', 'threads',
                'critic_epochs', 'cg_iters'] + [name for name in ('max_iter_num', 'max_env_steps')
                                                if getattr(args, name) is not None]
    for name in positive:
        if not 0 < getattr(args, name) < math.inf:
            raise UserError(f"--{name} must be positive and finite, got {getattr(args, name)}")
    if math.isnan(args.goal_score):
        raise UserError("--goal_score must be a number (inf: train to the end of the budget), got nan")
    if args.critic_batch_size < 0:
        raise UserError(f"--critic_batch_size must be 0 (whole batch) or positive, got {args.critic_batch_size}")
    if args.critic_hidden_size < 0:
        raise UserError(f"--critic_hidden_size must be 0 (as --hidden_size) or positive, got {args.critic_hidden_size}")
    if args.gae_lambda != 'off' and not 0 <= args.gae_lambda <= 1:
        raise UserError(f"--gae_lambda must be 'off' or in [0, 1], got {args.gae_lambda}")
    if args.bootstrap_truncation and args.gae_lambda == 'off':
        raise UserError("--bootstrap_truncation needs a critic in the advantages: pass --gae_lambda "
                        "(1.0 gives Monte-Carlo returns with bootstrapping)")
    if args.max_kl_schedule == 'linear' and args.max_env_steps is None:
        raise UserError("--max_kl_schedule linear shrinks the trust region over --max_env_steps: "
                        "pass --max_env_steps N")
    if not 0 <= args.max_kl_final <= args.max_kl:
        raise UserError(f"--max_kl_final must be in [0, --max_kl] = [0, {args.max_kl}], got {args.max_kl_final}")
    if args.max_kl_schedule == 'constant' and args.max_kl_final != 0:
        raise UserError(f"--max_kl_final {args.max_kl_final} is where --max_kl_schedule linear ends: pass "
                        f"--max_kl_schedule linear, or --max_kl_final 0 for a constant trust region")
    if not (math.isfinite(args.cg_damping) and args.cg_damping >= 0):
        raise UserError(f"--cg_damping must be a finite number >= 0, got {args.cg_damping}")
    if not math.isfinite(args.log_std_init):
        raise UserError(f"--log_std_init must be a finite number, got {args.log_std_init}")
    if args.num_envs != 'auto' and args.num_envs < 1:
        raise UserError(f"--num_envs must be 'auto' or positive, got {args.num_envs}")
    if not 0 < args.gamma <= 1:
        raise UserError(f"--gamma must be in (0, 1], got {args.gamma}")
    for flag, folder in (('--save_path', args.save_path), ('--logdir', args.logdir)):
        check_writable(flag, folder)


def check_resume(args, env_name, checkpoint):
    """A checkpoint continues only under the flags that shaped it, and only if it has work left."""
    saved = checkpoint['flags']
    for flag in ('env_name', 'hidden_size', 'critic_hidden_size', 'num_envs', 'learn_std', 'normalize_obs',
                 'scale_rewards'):
        given, was = getattr(args, flag), saved[flag]
        if given != was:
            raise UserError(f"checkpoint '{args.load_model}' was trained with --{flag} {was}, not {given}; "
                            f"drop --{flag} to continue it, or start a new run without --load_model")
    if args.max_iter_num is not None and checkpoint['iteration'] >= args.max_iter_num:
        raise UserError(f"checkpoint '{args.load_model}' has done {checkpoint['iteration']} iterations, "
                        f"--max_iter_num is {args.max_iter_num} (it counts them all); pass a larger one")
    if args.max_env_steps is not None and checkpoint['total_steps'] >= args.max_env_steps:
        raise UserError(f"checkpoint '{args.load_model}' has done {checkpoint['total_steps']} environment steps, "
                        f"--max_env_steps is {args.max_env_steps}; pass a larger one")
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
    """log/score per episode (x = episode number), score/episode (x = environment steps done when it ended)."""
    for score, steps in zip(rollout.episode_returns, rollout.episode_end_steps):
        progress.episodes += 1
        progress.recent_rewards.append(score)
        writer.add_scalar('log/score', score, progress.episodes)
        writer.add_scalar('score/episode', score, progress.total_steps + steps)


def log_update(writer, info, total_steps, scalars):
    """The update's figures, and the other per-iteration scalars ({tag: value}), at x = environment steps."""
    for tag, value in (('loss/critic', info.critic_loss), ('trpo/kl', info.kl),
                       ('trpo/step_fraction', info.step_fraction),
                       ('trpo/surrogate_improvement', info.surrogate_improvement),
                       ('trpo/skipped', float(bool(info.skipped))), *scalars.items()):
        writer.add_scalar(tag, value, total_steps)


def budget_left(args, progress):
    """True while neither --max_iter_num nor --max_env_steps (None: no limit) is used up."""
    return ((args.max_iter_num is None or progress.iteration < args.max_iter_num) and
            (args.max_env_steps is None or progress.total_steps < args.max_env_steps))


def trust_region(args, total_steps):
    """delta for the next update: --max_kl, or with the linear schedule, f = steps done / max_env_steps,
    delta = (1 - f) max_kl + f max_kl_final, positive for every iteration that runs."""
    if args.max_kl_schedule == 'linear':
        done = total_steps / args.max_env_steps
        return (1 - done) * args.max_kl + done * args.max_kl_final
    return args.max_kl


def update_options(args):
    return UpdateOptions(gae_lambda=None if args.gae_lambda == 'off' else args.gae_lambda,
                         bootstrap_truncation=args.bootstrap_truncation,
                         normalize_advantages=args.normalize_advantages,
                         critic_epochs=args.critic_epochs, critic_batch_size=args.critic_batch_size,
                         cg_iters=args.cg_iters, cg_damping=args.cg_damping)


def start_run(args, env_name, state_size, action_size, checkpoint):
    """Actor, critic, critic optimizer and TensorBoard folder: new (the actor from
    --load_model's model.pth if given), or to be filled from the checkpoint."""
    actor = Actor(state_size, action_size, args.hidden_size, **actor_options(vars(args)), ortho_init=args.ortho_init)
    critic = Critic(state_size, args.critic_hidden_size or args.hidden_size,
                    obs_norm=actor.obs_norm if args.normalize_obs else None,
                    scale_rewards=args.scale_rewards, ortho_init=args.ortho_init)
    critic_optimizer = optim.Adam(critic.parameters(), lr=args.critic_lr)
    if checkpoint:
        return actor, critic, critic_optimizer, checkpoint['run_dir']
    if args.load_model:
        loaded, info = load_policy(args.load_model)
        if (info['env_name'], info['state_size'], info['action_size'], info['hidden_size']) != \
                (env_name, state_size, action_size, args.hidden_size):
            raise UserError(f"--load_model '{args.load_model}' holds a policy for {info['env_name']} with "
                            f"hidden_size {info['hidden_size']}; pass the matching --env_name and --hidden_size")
        print(f'starting from the actor in {args.load_model}')
        try:
            actor.load_state_dict(loaded.state_dict())
        except RuntimeError:
            raise UserError(f"--load_model '{args.load_model}' holds an actor with options "
                            f"{info['actor_options'] or 'of the slides'}; pass the --preset (or --learn_std, "
                            "--normalize_obs) it was trained with") from None
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
    max_kl = trust_region(args, progress.total_steps)
    info = train_model(actor, critic, critic_optimizer, rollout.batch, args.gamma, max_kl, update_options(args))
    if info.usable:  # the batch joins the running statistics after the update (tuned preset)
        update_running_stats(actor, critic, rollout.batch, args.gamma)
    seconds = time.perf_counter() - start

    log_episodes(writer, rollout, progress)
    progress.total_steps += len(rollout.batch.rewards)
    avg100 = float(np.mean(progress.recent_rewards))
    log_update(writer, info, progress.total_steps, {
        'score/avg100': avg100, 'trpo/max_kl': max_kl,
        'policy/std': actor.log_std.exp().mean().item(),  # mean over action dimensions, after the update
        'time/steps_per_second': len(rollout.batch.rewards) / seconds})
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
    args.env_name = env_name = resolve_env_name(args.env_name)
    apply_preset(args, env_name)
    if args.max_iter_num is None and args.max_env_steps is None:
        args.max_iter_num = 500  # the slides' budget; a step budget alone sets no iteration limit
    check_args(args)
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
            while not stop.signum and budget_left(args, progress):
                avg100, seconds = run_iteration(args, envs, actor, critic, critic_optimizer, progress, writer)
                history.append((progress.total_steps, avg100, seconds))
                save_checkpoint(checkpoint_path, args, run_dir, progress, actor, critic, critic_optimizer, envs)
                if avg100 > args.goal_score:
                    print(f'Recent rewards exceed {args.goal_score} after {progress.total_steps} steps. So end')
                    break
            save_policy(model_path, actor, env_name, state_size, action_size, args.hidden_size,
                        actor_options(vars(args)))
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
