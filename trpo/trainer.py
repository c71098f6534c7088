"""The training loop: trpo.train(config) -> TrainResult. It only wires the pieces: sample a batch,
run the six steps (trpo.update.train_model), merge the batch into the running statistics, log,
evaluate, checkpoint. train.py is this behind the slides' command line."""
import dataclasses
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from contextlib import ExitStack, closing
from typing import NamedTuple, Optional

import numpy as np
import torch
from tensorboardX import SummaryWriter

from trpo.checkpoint import (Progress, actor_options, find_model, load_checkpoint, load_policy, restore_checkpoint,
                             save_checkpoint, save_policy)
from trpo.stop import StopRequest
from trpo.config import TrainConfig, in_python_words, usable_cpus
from trpo.critic_fit import CriticFitter, make_critic_optimizer
from trpo.envs import auto_num_envs, check_display, env_sizes, make_env
from trpo.errors import UserError
from trpo.evaluate import EVAL_SEED, run_episodes
from trpo.model import Actor, Critic
from trpo.progress import Console
from trpo.sampler import LocalSampler, steps_per_sampler
from trpo.update import UpdateInfo, UpdateOptions, train_model, update_running_stats


class IterationRecord(NamedTuple):
    """What one iteration did; trpo.train returns one per iteration, and passes each to the callbacks."""
    iteration: int  # 1-based count of iterations done, a resumed run's included
    total_steps: int  # environment steps done after this iteration's batch
    avg100: float  # mean return of the last 100 episodes
    seconds: float  # sampling + update
    update: UpdateInfo
    eval_return: Optional[float] = None  # mean deterministic return, on iterations that evaluated


class TrainResult(NamedTuple):
    history: list  # an IterationRecord per iteration run in this call
    stop_reason: str  # 'goal', 'max_env_steps', 'max_iter_num', 'callback' or 'interrupted'
    paths: dict  # 'model', 'checkpoint', 'run_dir', and 'best_model' when evaluation wrote one
    config: TrainConfig  # the resolved config the run trained with
    signum: Optional[int] = None  # the signal that interrupted it


SIGNAL_WORDS = {'SIGINT': 'Ctrl-C (SIGINT)', 'SIGTERM': 'a request to terminate (SIGTERM)'}


def stop_words(reason, config, record, signum=None):
    """Why the run stopped, with its numbers: 'the 100-episode average -288.7 > goal_score -300'."""
    average = f'the 100-episode average {record.avg100:.1f}' if record else 'no episode finished'
    if reason == 'goal':
        return f'{average} > goal_score {config.goal_score:g}'
    if reason in ('max_env_steps', 'max_iter_num'):
        return f'{reason} {getattr(config, reason)} reached ({average})'
    if reason == 'interrupted':
        name = signal.Signals(signum).name
        return f'interrupted by {SIGNAL_WORDS.get(name, name)}'
    return 'a callback asked to stop'


@in_python_words
def from_checkpoint(path, **changes):
    """The TrainConfig that continues checkpoint.pth at path: its run's options, with changes on top."""
    checkpoint = load_checkpoint(path)
    if checkpoint is None:
        raise UserError(f"'{path}' is a model.pth, not a checkpoint.pth; pass it as load_model to start a new run "
                        "from its actor")
    return config_of_checkpoint(checkpoint, path, **changes)


class CheckpointConfig(TrainConfig):
    """A TrainConfig that already holds a checkpoint's options (config_of_checkpoint, from_checkpoint): trpo.train
    takes its values as they are, a default among them too (from_checkpoint(path, sampler='local'))."""


def config_of_checkpoint(checkpoint, path, **changes):
    """The TrainConfig of a loaded checkpoint (read from path), with changes on top. The Ray cluster it ran on
    (address) is not carried over (train() says so), nor overwrite (a permission for one run's start); another
    sampler drops the saved worker count with it,
    so that resuming refuses the sampler with a message that names it."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {'address', 'overwrite'}
    saved = {k: v for k, v in checkpoint['flags'].items() if k in names}
    if changes.get('sampler', saved.get('sampler', 'local')) != saved.get('sampler', 'local') and \
            'num_workers' not in changes:
        saved.pop('num_workers', None)
    return CheckpointConfig(**saved).replace(**changes, load_model=path)


@in_python_words
def train(config, callbacks=()):
    """Train, or continue the checkpoint config.load_model names; returns a TrainResult.

    A checkpoint continues its run as `python train.py --load_model` does: the options left at their
    defaults take the run's values. Raises UserError for a bad option, file or callback, before anything
    is written (the message says what to do). Each callback is called with the IterationRecord of every
    iteration; one that returns True stops training (stop_reason 'callback'). SIGINT/SIGTERM (in the main
    thread) finish the iteration, save, and return with stop_reason 'interrupted'; a second one stops at
    once (KeyboardInterrupt)."""
    return run(config, callbacks, inherit=not isinstance(config, CheckpointConfig))


def run(config, callbacks=(), inherit=False):
    """trpo.train for train.py, whose config already holds a checkpoint's options (cli.parse_train_args: the
    flags given win); inherit: the options of config left at their defaults take the checkpoint's values."""
    callbacks = checked_callbacks(callbacks)
    if config.load_model:
        config = config.replace(load_model=find_model(config.load_model, config.save_path))
    checkpoint = load_checkpoint(config.load_model) if config.load_model else None
    if checkpoint and inherit:
        config = config_of_checkpoint(checkpoint, config.load_model, **non_defaults(config))
    config = config.resolved()
    if config.render:
        check_display()
    num_envs = 1 if config.render else auto_num_envs(config.env_name, steps_per_sampler(config), config.num_envs)
    config = config.replace(num_envs=num_envs)
    if checkpoint:
        check_resume(config, checkpoint)
    others = others_files(config, checkpoint)
    check_overwrite(config, others, resuming=checkpoint is not None)
    for name in ('save_path', 'logdir'):  # the last check, and the first write
        check_writable(name, getattr(config, name))
    if 'best_model.pth' in others:  # --overwrite: the other run's best policy must not pass for this run's
        os.remove(os.path.join(config.save_path, 'best_model.pth'))
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    paths = {'model': os.path.join(config.save_path, 'model.pth'),
             'checkpoint': os.path.join(config.save_path, 'checkpoint.pth')}
    with ExitStack() as stack:
        console = stack.enter_context(closing(Console(config)))
        sampler = stack.enter_context(closing(make_sampler(config, console)))
        state_size, action_size, discrete = env_sizes(sampler)
        console.print(f'state size: {state_size}\naction size: {action_size}' + (' (discrete)' if discrete else ''))
        actor, critic, critic_optimizer, run_dir = start_run(config, state_size, action_size, discrete, checkpoint,
                                                             console)
        fitter = stack.enter_context(closing(CriticFitter(config.seed, use_critic_process(config), config.threads,
                                                          console.warn)))
        history_from = None
        if checkpoint:
            run_dir, history_from = resume_run_dir(checkpoint, config.load_model, config.logdir)
        paths['run_dir'] = run_dir
        progress = Progress()
        if checkpoint:
            progress = restore_checkpoint(checkpoint, config.load_model, actor, critic, critic_optimizer, sampler)
            if checkpoint.get('critic_fit'):  # a /2 checkpoint has none: its fits were done
                fitter.restore(checkpoint['critic_fit'], critic, critic_optimizer)
            console.print(f'resuming {run_dir} after iteration {progress.iteration} ({progress.total_steps} steps)')
            if history_from:
                console.print(f"note: the logs in {history_from} do not end at this checkpoint (it was copied or "
                              "moved, continued already, or written by version 0.3); this run logs to a new folder, "
                              f"with that history up to iteration {progress.iteration}")
            if checkpoint['flags'].get('address') and config.address is None:
                console.print(f"note: this run trained on the Ray cluster at --address {checkpoint['flags']['address']}; "
                              "it goes on with a Ray on this machine (pass --address to go on there)")
        console.start(progress)
        evaluator = stack.enter_context(closing(Evaluator(config, actor)))
        writer = stack.enter_context(closing(open_writer(run_dir, progress, checkpoint, history_from)))
        stop = stack.enter_context(StopRequest()) if threading.current_thread() is threading.main_thread() else None
        history, reason = [], None
        while reason is None:
            record = run_iteration(config, sampler, actor, critic, critic_optimizer, fitter, progress, writer, console)
            record = evaluator.maybe_evaluate(record, progress, writer, console)
            history.append(record)
            save_checkpoint(paths['checkpoint'], dataclasses.asdict(config), run_dir, progress, actor, critic,
                            critic_optimizer, sampler.rng_state(), fitter.state())
            mark_last_checkpoint(run_dir, progress.iteration, paths['checkpoint'], console.warn)
            reason = stop_reason(config, progress, record, stop)
            if any([bool(callback(record)) for callback in callbacks]) and reason is None:
                reason = 'callback'
        save_actor(paths['model'], actor, config)
        if evaluator.wrote_best:
            paths['best_model'] = evaluator.best_path
        console.finish(progress, stop_words(reason, config, history[-1] if history else None, stop and stop.signum),
                       paths)
    return TrainResult(history, reason, paths, config, stop.signum if stop else None)


def checked_callbacks(callbacks):
    """callbacks as a list of callables, or a UserError (a lone function is a common slip: pass [f])."""
    if callable(callbacks):
        raise UserError(f"callbacks must be a list of functions, got the function {callbacks!r}: pass [f]")
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise UserError(f"callbacks must be a list of functions, got {callbacks!r}") from None
    for callback in callbacks:
        if not callable(callback):
            raise UserError(f"callbacks must be a list of functions, and {callback!r} is not callable")
    return callbacks


def non_defaults(config):
    """The options of config that differ from TrainConfig's defaults (load_model aside): what a user set."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(TrainConfig)
            if f.name != 'load_model' and getattr(config, f.name) != f.default}


def stop_reason(config, progress, record, stop):
    """Why training stops after this iteration, or None to go on."""
    if stop is not None and stop.signum:
        return 'interrupted'
    if record.avg100 > config.goal_score:
        return 'goal'
    if config.max_env_steps is not None and progress.total_steps >= config.max_env_steps:
        return 'max_env_steps'
    if config.max_iter_num is not None and progress.iteration >= config.max_iter_num:
        return 'max_iter_num'
    return None


def make_sampler(config, console):
    """--sampler local: a vector env here; ray: Ray's rollout workers (Ray is an optional extra, imported only then)."""
    if config.sampler == 'ray':
        from trpo.ray_sampler import RaySampler
        return RaySampler(config, console)
    return LocalSampler(config)


def use_critic_process(config):
    """--critic_process: on, off, or auto: on when the critic fits in minibatches, a second CPU is there to
    use, this process may have children (a multiprocessing pool's workers may not), and it samples
    its batches itself (with --sampler ray the fit runs here while Ray's workers sample)."""
    daemon = multiprocessing.current_process().daemon
    if config.critic_process == 'on' and daemon:
        raise UserError("--critic_process on: this process is a daemonic worker (a multiprocessing pool's), which "
                        "cannot start processes; pass --critic_process off or auto")
    if config.critic_process == 'auto':
        return config.critic_batch_size > 0 and usable_cpus() >= 2 and not daemon and config.sampler == 'local'
    return config.critic_process == 'on'


def check_writable(name, folder):
    """Create folder if needed and prove a file can be written there, before training starts."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"--{name} '{folder}' is not writable ({e.strerror}); choose another folder") from None


RUN_FILES = ('model.pth', 'checkpoint.pth', 'best_model.pth')


def others_files(config, checkpoint):
    """The run files in save_path that are not this run's: none if they are the run's the checkpoint continues
    (at the checkpoint's iteration or before)."""
    present = [name for name in RUN_FILES if os.path.exists(os.path.join(config.save_path, name))]
    return [] if checkpoint and own_files(config.save_path, checkpoint, config.load_model) else present


def check_overwrite(config, present, resuming):
    """A run writes into save_path only if it holds no other run's files (present), or config.overwrite
    allows replacing them. resuming: the run continues a checkpoint."""
    if not present or config.overwrite:
        return
    hint = ''
    if 'checkpoint.pth' in present and not resuming:
        hint = f", or --load_model {os.path.join(config.save_path, 'checkpoint.pth')} to continue that run"
    raise UserError(f"--save_path '{config.save_path}' holds {', '.join(present)} of another run; pass another "
                    f"--save_path for this run, or set --overwrite to replace them{hint}")


def own_files(save_path, checkpoint, checkpoint_path):
    """Whether save_path's checkpoint.pth is of the run checkpoint (read from checkpoint_path) continues, and no
    further on: the very file, the usual resume, without reading it again; else a copy of the same run."""
    path = os.path.join(save_path, 'checkpoint.pth')
    if os.path.exists(path) and os.path.samefile(path, checkpoint_path):
        return True
    try:
        theirs = load_checkpoint(path)
        return theirs is not None and theirs['run_dir'] == checkpoint['run_dir'] and \
            theirs['iteration'] <= checkpoint['iteration']
    except (UserError, KeyError, TypeError):  # none there, not one of ours, or damaged
        return False


def check_resume(config, checkpoint):
    """A checkpoint continues only under the options that shaped it, and only if it has work left."""
    saved, path = checkpoint['flags'], config.load_model
    for name in ('env_name', 'hidden_size', 'critic_hidden_size', 'num_envs', 'learn_std', 'normalize_obs',
                 'scale_rewards', 'sampler', 'num_workers'):
        given, was = getattr(config, name), saved.get(name, getattr(TrainConfig, name))  # runs of 0.2: local
        if given != was:
            raise UserError(f"checkpoint '{path}' was trained with --{name} {was}, not {given}; "
                            f"drop --{name} to continue it, or start a new run without --load_model")
    if config.max_iter_num is not None and checkpoint['iteration'] >= config.max_iter_num:
        raise UserError(f"checkpoint '{path}' has done {checkpoint['iteration']} iterations, "
                        f"--max_iter_num is {config.max_iter_num} (it counts them all); pass a larger one")
    if config.max_env_steps is not None and checkpoint['total_steps'] >= config.max_env_steps:
        raise UserError(f"checkpoint '{path}' has done {checkpoint['total_steps']} environment steps, "
                        f"--max_env_steps is {config.max_env_steps}; pass a larger one")
    recent = checkpoint['recent_rewards']
    if recent and np.mean(recent) > config.goal_score:
        raise UserError(f"checkpoint '{path}' already reached --goal_score {config.goal_score} "
                        f"(average {np.mean(recent):.1f}); pass a higher --goal_score to train on")


def new_run_dir(config):
    """logdir/<run_name or env_seed_date-time>[_k] (absolute): one folder per run, so runs never mix."""
    name = config.run_name or f"{config.env_name}_seed{config.seed}_{time.strftime('%Y%m%d-%H%M%S')}"
    base = os.path.abspath(os.path.join(config.logdir, name))
    path, k = base, 1
    while os.path.exists(path):
        path, k = f"{base}_{k}", k + 1
    return path


def start_run(config, state_size, action_size, discrete, checkpoint, console):
    """Actor, critic, critic optimizer and TensorBoard folder: new (the actor from load_model's
    model.pth if given), or to be filled from the checkpoint. discrete: a categorical actor."""
    actor = Actor(state_size, action_size, config.hidden_size, **actor_options(dataclasses.asdict(config), discrete),
                  ortho_init=config.ortho_init)
    critic = Critic(state_size, config.critic_hidden_size or config.hidden_size,
                    obs_norm=actor.obs_norm if config.normalize_obs else None,
                    scale_rewards=config.scale_rewards, ortho_init=config.ortho_init)
    critic_optimizer = make_critic_optimizer(critic, config.critic_lr)
    if checkpoint:
        return actor, critic, critic_optimizer, checkpoint['run_dir']
    if config.load_model:
        loaded, info = load_policy(config.load_model)
        if (info['env_name'], info['state_size'], info['action_size'], info['hidden_size']) != \
                (config.env_name, state_size, action_size, config.hidden_size):
            raise UserError(f"--load_model '{config.load_model}' holds a policy for {info['env_name']} with "
                            f"hidden_size {info['hidden_size']}; pass the matching --env_name and --hidden_size")
        console.print(f'starting from the actor in {config.load_model}')
        try:
            actor.load_state_dict(loaded.state_dict())
        except RuntimeError:
            raise UserError(f"--load_model '{config.load_model}' holds an actor with options "
                            f"{info['actor_options']}; pass the --preset (or --learn_std, --normalize_obs) "
                            "it was trained with") from None
    return actor, critic, critic_optimizer, new_run_dir(config)


def open_writer(run_dir, progress, resuming, history_from=None):
    """The run's SummaryWriter. A resumed run adds its own event file to the folder (tensorboardX names
    files by the second: a shared name would truncate the earlier one) and purges what a crashed run logged
    after its checkpoint's last step; in a new folder (resume_run_dir) it first writes the history of the
    folder history_from up to the checkpoint."""
    if not resuming:
        return SummaryWriter(run_dir)
    writer = SummaryWriter(run_dir, purge_step=progress.total_steps + 1,
                           filename_suffix=f'.resumed{progress.iteration}.{os.getpid()}')
    if history_from:
        copy_history(history_from, writer, progress)
    return writer


LAST_CHECKPOINT = 'last_checkpoint.json'  # in a run's TensorBoard folder: the checkpoint it continues from


def mark_last_checkpoint(run_dir, iteration, checkpoint_path, warn):
    """Note in run_dir which checkpoint its logs go up to (TensorBoard ignores the file)."""
    tmp = os.path.join(run_dir, f'{LAST_CHECKPOINT}.tmp{os.getpid()}')
    try:
        with open(tmp, 'w') as f:
            json.dump({'iteration': iteration, 'checkpoint': os.path.abspath(checkpoint_path)}, f)
        os.replace(tmp, os.path.join(run_dir, LAST_CHECKPOINT))
    except OSError as e:  # the log folder removed or full: the run goes on; a resume will log to a new folder
        warn(f"cannot write {os.path.join(run_dir, LAST_CHECKPOINT)} ({e.strerror or e})")


def resume_run_dir(checkpoint, checkpoint_path, logdir):
    """(folder, history_from): where a resumed run logs. Its own folder (history_from None) when this
    checkpoint, at this path, is the last one the run logged there: a run stopped and continued. Otherwise the
    folder's logs belong to another continuation (this checkpoint copied, or resumed a second time): a new
    folder <run>_from<iteration> beside it (in logdir if it is gone), which gets the history up to the
    checkpoint from the old one, so that no folder mixes two histories."""
    run_dir, iteration = checkpoint['run_dir'], checkpoint['iteration']
    try:
        with open(os.path.join(run_dir, LAST_CHECKPOINT)) as f:
            last = json.load(f)
    except (OSError, ValueError):
        last = None
    here = os.path.abspath(checkpoint_path)
    if last in ({'iteration': iteration, 'checkpoint': here}, {'iteration': iteration - 1, 'checkpoint': here}):
        return run_dir, None  # (iteration - 1: the run stopped between writing the checkpoint and the note)
    parent = os.path.dirname(run_dir) if os.path.isdir(run_dir) else os.path.abspath(logdir)
    base = os.path.join(parent, f'{os.path.basename(run_dir)}_from{iteration}')
    path, k = base, 1
    while os.path.exists(path):
        path, k = f'{base}_{k}', k + 1
    return path, (run_dir if os.path.isdir(run_dir) else None)


def copy_history(old_dir, writer, progress):
    """Write the scalars of old_dir up to the checkpoint into writer: log/score (x = episodes) up to its
    episodes, every other tag (x = environment steps) up to its steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # slow to import
    events = EventAccumulator(old_dir, size_guidance={'scalars': 0})
    events.Reload()
    for tag in events.Tags()['scalars']:
        last = progress.episodes if tag == 'log/score' else progress.total_steps
        for event in events.Scalars(tag):
            if event.step <= last:
                writer.add_scalar(RENAMED_TAGS.get(tag, tag), event.value, event.step, walltime=event.wall_time)


RENAMED_TAGS = {'score/avg100': 'log/avg100', 'score/episode': 'log/episode_return',  # version 0.3's names
                'critic/explained_variance': 'loss/critic_explained_variance'}


def trust_region(config, total_steps):
    """delta for the next update: max_kl, or with the linear schedule, f = steps done / max_env_steps,
    delta = (1 - f) max_kl + f max_kl_final, positive for every iteration that runs."""
    if config.max_kl_schedule == 'linear':
        done = total_steps / config.max_env_steps
        return (1 - done) * config.max_kl + done * config.max_kl_final
    return config.max_kl


def update_options(config):
    return UpdateOptions(gae_lambda=None if config.gae_lambda == 'off' else config.gae_lambda,
                         bootstrap_truncation=config.bootstrap_truncation,
                         normalize_advantages=config.normalize_advantages,
                         critic_epochs=config.critic_epochs, critic_batch_size=config.critic_batch_size,
                         cg_iters=config.cg_iters, cg_damping=config.cg_damping)


def run_iteration(config, sampler, actor, critic, critic_optimizer, fitter, progress, writer, console):
    """The slides' loop body: one batch, one update (steps 1-6), the logs. The critic's fit of the last
    batch runs in fitter's worker process while this batch is sampled, or here: while Ray's workers
    sample, or after the local sampler's batch. Either way it is done before this batch's values."""
    start = time.perf_counter()
    rollout = sampler.collect(actor, seed=config.seed if progress.iteration == 0 else None, meanwhile=fitter.wait)
    max_kl = trust_region(config, progress.total_steps)
    info = train_model(actor, critic, critic_optimizer, rollout.batch, config.gamma, max_kl, update_options(config),
                       critic_fitter=fitter)
    if info.usable:  # the batch joins the running statistics after the update (tuned preset)
        update_running_stats(actor, critic, rollout.batch, config.gamma)
    seconds = time.perf_counter() - start

    log_episodes(writer, rollout, progress)
    progress.total_steps += len(rollout.batch.rewards)
    progress.iteration += 1
    avg100 = float(np.mean(progress.recent_rewards))
    scalars = {'log/avg100': avg100, 'trpo/max_kl': max_kl, 'time/steps_per_second': len(rollout.batch.rewards) / seconds}
    if not actor.discrete:  # mean over action dimensions, after the update
        scalars['policy/std'] = actor.log_std.exp().mean().item()
    log_update(writer, info, progress.total_steps, scalars)
    if info.skipped:
        console.warn(f'iteration {progress.iteration - 1}: policy update skipped: {info.skipped}')
    record = IterationRecord(progress.iteration, progress.total_steps, avg100, seconds, info)
    console.update(progress, record)
    return record


def log_episodes(writer, rollout, progress):
    """log/score per episode (x = episode number, as on the slides), log/episode_return (x = environment steps done
    when it ended)."""
    for score, steps in zip(rollout.episode_returns, rollout.episode_end_steps):
        progress.episodes += 1
        progress.recent_rewards.append(score)
        writer.add_scalar('log/score', score, progress.episodes)
        writer.add_scalar('log/episode_return', score, progress.total_steps + steps)


def log_update(writer, info, total_steps, scalars):
    """The update's figures, and the other per-iteration scalars ({tag: value}), at x = environment steps."""
    for tag, value in (('loss/critic', info.critic_loss), ('trpo/kl', info.kl),
                       ('trpo/step_fraction', info.step_fraction),
                       ('trpo/surrogate_improvement', info.surrogate_improvement),
                       ('trpo/skipped', float(bool(info.skipped))), ('trpo/backtracks', info.backtracks),
                       ('trpo/cg_residual', info.cg_residual), ('policy/entropy', info.entropy),
                       ('loss/critic_explained_variance', info.explained_variance), *scalars.items()):
        writer.add_scalar(tag, value, total_steps)


class Evaluator:
    """Every eval_interval iterations: eval_episodes deterministic episodes (the mean or most probable action) on an
    environment of its own, from reset seeds 10000, 10001, ... (training seeds only its first reset, with
    --seed), with the observation statistics as they are (evaluation never updates them). The best policy
    so far is written to best_model.pth; its score travels in checkpoint.pth, so a resumed run keeps it."""

    def __init__(self, config, actor):
        self.config, self.actor = config, actor
        self.best_path = os.path.join(config.save_path, 'best_model.pth')
        self.env = make_env(config.env_name) if config.eval_interval else None
        self.wrote_best = False

    def maybe_evaluate(self, record, progress, writer, console):
        if not self.config.eval_interval or progress.iteration % self.config.eval_interval:
            return record
        returns = run_episodes(self.env, self.actor, self.config.eval_episodes, seed=EVAL_SEED)
        mean = float(np.mean(returns))
        writer.add_scalar('eval/return_mean', mean, progress.total_steps)
        writer.add_scalar('eval/return_std', float(np.std(returns)), progress.total_steps)
        if mean > progress.best_eval:
            progress.best_eval = mean
            save_actor(self.best_path, self.actor, self.config)
            self.wrote_best = True
        console.evaluated(progress, mean)
        return record._replace(eval_return=mean)

    def close(self):
        if self.env is not None:
            self.env.close()


def save_actor(path, actor, config):
    """model.pth (or best_model.pth): the actor, and what test.py needs to rebuild it."""
    save_policy(path, actor, config.env_name, actor.fc1.in_features, actor.fc3.out_features, config.hidden_size,
                actor_options(dataclasses.asdict(config), actor.discrete))

