"""How fast the package trains, against the slides' code on Pendulum and SB3-contrib on MuJoCo.

    python benchmarks/speed.py                      # everything, about 6 minutes
    python benchmarks/speed.py --skip mujoco        # Pendulum and the update only
    python benchmarks/speed.py --mujoco_steps 20000 # a shorter MuJoCo comparison

Run it on an otherwise idle machine: every part runs one after the other, on one torch thread
unless a line says otherwise. It prints the machine, then:

1. Pendulum-v1 with default flags (the slides preset): the median seconds per iteration
   (sampling + update) of the slides' loop (benchmarks/slides_loop.py) and of the package, in
   the same run, and the ratio. The first --warmup iterations are left out.
2. Hopper-v5 and HalfCheetah-v5 with --preset tuned: the wall-clock of --mujoco_steps environment
   steps of SB3-contrib's TRPO with the RL Zoo's values (model.learn; skipped with a note if
   sb3-contrib is not installed) and of the package (trpo.train, start-up, checkpoints and logs
   included), with the critic fitted in a worker process (the default on 2+ CPUs) and in the
   training process, and the ratios. For each, where the time went in the training process
   (sampling, the actor's update, the critic's fit, waiting for the worker, checkpoints, the rest)
   and the seconds the worker spent fitting beside it.
3. One update on a Pendulum batch, and one CG solve with the package's hessian_vector_product (the
   Fisher form on one kept forward pass) and with the slides' (the double backward, rebuilt each time)
"""
import argparse
import contextlib
import copy
import functools
import importlib.metadata
import importlib.util
import io
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import torch  # noqa: E402

import slides_loop  # noqa: E402
import trpo  # noqa: E402
import trpo.critic_fit  # noqa: E402
import trpo.sampler  # noqa: E402
import trpo.trainer  # noqa: E402
from trpo.cli import parse_train_args  # noqa: E402
from trpo.critic_fit import CriticFitter, make_critic_optimizer  # noqa: E402
from trpo.envs import make_vector_env  # noqa: E402
from trpo.model import Actor, Critic  # noqa: E402
from trpo.sampler import collect_trajectories  # noqa: E402
from trpo.update import train_model  # noqa: E402
from trpo.utils import conjugate_gradient, fisher_graph, hessian_vector_product  # noqa: E402

# where a run's time goes: the package's functions a Stopwatch times, by the name they are called by
PARTS = {'sampling': (trpo.sampler, 'collect_trajectories'), 'update': (trpo.trainer, 'train_model'),
         'critic fit here': (trpo.critic_fit, 'run_job'), 'waiting for the critic': (CriticFitter, 'wait'),
         'checkpoints': (trpo.trainer, 'save_checkpoint'), 'closing': (CriticFitter, 'close')}


class Stopwatch:
    """Seconds spent inside the functions of PARTS while the with block runs (each wrapped, then restored),
    and the seconds the critic's worker process spent fitting (CriticFitter.worker_seconds, read as it closes)."""

    def __init__(self):
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.worker_seconds = 0.0

    def __enter__(self):
        self.originals = {label: getattr(module, name) for label, (module, name) in PARTS.items()}
        for label, (module, name) in PARTS.items():
            setattr(module, name, self.timed(label, self.originals[label]))
        return self

    def timed(self, label, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if label == 'closing':
                self.worker_seconds += args[0].worker_seconds
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
        return wrapper

    def __exit__(self, *exc):
        for label, (module, name) in PARTS.items():
            setattr(module, name, self.originals[label])


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def train_quietly(argv, callbacks=()):
    """trpo.train on the flags argv, its files in a temporary folder; returns the TrainResult."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        return trpo.trainer.run(parse_train_args([*argv, '--logdir', tmp, '--save_path', tmp, '--quiet']), callbacks)


def package_iteration_seconds(iters, warmup, flags=()):
    """Median seconds per iteration of the package on Pendulum-v1, and environment steps per second."""
    history = train_quietly(['--max_iter_num', str(iters), '--goal_score', 'inf', *flags]).history
    timed = history[warmup:]
    steps = timed[-1].total_steps - (history[warmup - 1].total_steps if warmup else 0)
    return statistics.median(h.seconds for h in timed), steps / sum(h.seconds for h in timed)


def slides_iteration_seconds(iters, warmup):
    """The same for benchmarks/slides_loop.py (the slides' defaults, seed 500)."""
    args = argparse.Namespace(env_name='Pendulum-v1', seed=500, gamma=0.99, max_kl=0.01, max_iter_num=iters,
                              total_sample_size=2048, goal_score=float('inf'))
    seconds = []
    slides_loop.run(args, lambda it, steps, avg, sec: seconds.append(sec))
    return statistics.median(seconds[warmup:]), 2200 / statistics.mean(seconds[warmup:])


def pendulum(args):
    print('\n1. Pendulum-v1, default flags (the slides preset): seconds per iteration, median after '
          f'{args.warmup} warm-up iterations of {args.iters}')
    base, base_sps = slides_iteration_seconds(args.iters, args.warmup)
    print(f"{'setup':48s} {'s/iter':>8s} {'steps/s':>9s} {'vs slides':>9s}")
    print(f"{'slides loop (1 env, per-step forward, ref FVP)':48s} {base:8.4f} {base_sps:9.0f} {1.0:8.2f}x")
    for label, flags in (('package, default flags', []), ('package --num_envs 1', ['--num_envs', '1'])):
        sec, sps = package_iteration_seconds(args.iters, args.warmup, flags)
        print(f'{label:48s} {sec:8.4f} {sps:9.0f} {base / sec:8.2f}x')


def package_mujoco(env_name, steps, seed, critic_process):
    """Wall-clock seconds of `train.py --preset tuned` on env_name (its 1M-step run) until steps are done,
    the steps done, and the Stopwatch of that run."""
    argv = ['--env_name', env_name, '--preset', 'tuned', '--seed', str(seed), '--critic_process', critic_process]
    with Stopwatch() as watch:
        start = time.perf_counter()
        result = train_quietly(argv, callbacks=[lambda record: record.total_steps >= steps])
        seconds = time.perf_counter() - start
    return seconds, result.history[-1].total_steps, watch


def sb3_mujoco(env_name, steps, seed):
    """Seconds of SB3-contrib's TRPO with the RL Zoo's values (benchmarks/sb3_reference.py) learning steps
    (whole rollouts of 2 x 1024 steps), and the steps it did."""
    import sb3_reference
    model = sb3_reference.make_model(env_name, seed)
    start = time.perf_counter()
    model.learn(steps)
    return time.perf_counter() - start, model.num_timesteps


def mujoco(args):
    have_sb3 = importlib.util.find_spec('sb3_contrib') is not None
    print(f'\n2. --preset tuned, {args.mujoco_steps:,} environment steps (seed {args.seed}), wall-clock'
          + ('' if have_sb3 else ' (sb3-contrib is not installed: pip install sb3-contrib to compare)'))
    print('Seconds in the training process: sampling, actor update (steps 1, 3-6), critic fit (step 2) when it runs '
          'there, waiting for the\ncritic\'s worker, checkpoints, the rest (start-up, statistics, logs); and the '
          'seconds the worker spent fitting, beside the sampling.')
    print(f"{'environment':16s} {'critic fit':>10s} {'package':>9s} {'SB3-contrib':>12s} {'speed-up':>9s}   "
          f"{'sampling':>8s} {'actor':>6s} {'critic':>6s} {'waiting':>7s} {'ckpt':>5s} {'rest':>5s}   {'worker':>6s}")
    for env_name in args.mujoco:
        theirs, their_steps = sb3_mujoco(env_name, args.mujoco_steps, args.seed) if have_sb3 else (None, 0)
        for critic_process in ('on', 'off'):
            ours, done, watch = package_mujoco(env_name, args.mujoco_steps, args.seed, critic_process)
            s = watch.seconds
            # the fit in this process runs inside CriticFitter.wait, after the sampling, not inside train_model
            parts = [s['sampling'], s['update'], s['critic fit here'],
                     s['waiting for the critic'] - s['critic fit here'], s['checkpoints']]
            parts.append(ours - sum(parts))
            where = 'in a worker' if critic_process == 'on' else 'in process'
            versus = f'{theirs:11.1f}s {theirs / ours:8.2f}x' if theirs else f"{'-':>12s} {'-':>9s}"
            print(f'{env_name:16s} {where:>10s} {ours:8.1f}s {versus}   ' + ' '.join(
                f'{p:{w}.1f}' for p, w in zip(parts, (8, 6, 6, 7, 5, 5))) + f'   {watch.worker_seconds:6.1f}')
        print(f'{"":16s} steps done: {done:,}' + (f'; SB3-contrib {their_steps:,}' if theirs else ''))


def update_timings(repeats):
    torch.manual_seed(0)
    envs = make_vector_env('Pendulum-v1', 1)
    actor, critic = Actor(3, 1), Critic(3)
    batch = collect_trajectories(envs, actor, 2048, seed=0).batch
    envs.close()

    def one_update():
        a, c = copy.deepcopy(actor), copy.deepcopy(critic)
        train_model(a, c, make_critic_optimizer(c, 1e-3), batch, 0.99, 0.01)

    g = torch.randn(sum(p.numel() for p in actor.parameters()))
    slides = lambda v: slides_loop.hessian_vector_product(actor, batch.states, v)  # noqa: E731

    def package_solve():
        graph = fisher_graph(actor, batch.states)
        return conjugate_gradient(lambda v: hessian_vector_product(graph, v), g)

    print('\n3. One update on a 2,200-step Pendulum batch (the slides preset), median of', repeats)
    ms = {'update (steps 1-6)': median_ms(one_update, repeats),
          "CG solve (10 iters), the slides' H p": median_ms(lambda: conjugate_gradient(slides, g), repeats),
          'CG solve (10 iters), the package\'s H p': median_ms(package_solve, repeats)}
    for name, value in ms.items():
        print(f'{name:48s} {value:8.1f} ms')
    ratio = ms["CG solve (10 iters), the slides' H p"] / ms["CG solve (10 iters), the package's H p"]
    print(f"the slides' / the package's: CG solve {ratio:.2f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--iters', type=int, default=20, help='Pendulum iterations per setup')
    p.add_argument('--warmup', type=int, default=3, help='first Pendulum iterations left out of the timing')
    p.add_argument('--mujoco', nargs='*', default=['Hopper-v5', 'HalfCheetah-v5'], help='MuJoCo environments')
    p.add_argument('--mujoco_steps', type=int, default=100_000, help='environment steps per MuJoCo run')
    p.add_argument('--seed', type=int, default=1, help='seed of the MuJoCo runs')
    p.add_argument('--skip', nargs='*', default=[], choices=['pendulum', 'mujoco', 'update'], help='parts to leave out')
    args = p.parse_args()
    torch.set_num_threads(1)
    versions = {name: importlib.metadata.version(name) for name in ('gymnasium', 'mujoco', 'numpy')
                if importlib.util.find_spec(name)}
    print(f'machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, '
          f'Python {platform.python_version()}, torch {torch.__version__}, '
          + ', '.join(f'{k} {v}' for k, v in versions.items()))
    if 'pendulum' not in args.skip:
        pendulum(args)
    if 'mujoco' not in args.skip:
        mujoco(args)
    if 'update' not in args.skip:
        update_timings(repeats=7)


if __name__ == '__main__':
    main()
