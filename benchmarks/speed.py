"""Seconds per training iteration on Pendulum-v1: the slides' loop vs this package.

    python benchmarks/speed.py [--iters 12] [--warmup 2]

Prints the machine, then for each setup the median seconds per iteration
(sampling + update, start-up and the first `warmup` iterations excluded) and
environment steps per second; then one update (fast FVP), and one CG solve with the
reference (double backward, rebuilt per call) and the fast Fisher-vector product.
"""
import argparse
import contextlib
import copy
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
from trpo.cli import train_main  # noqa: E402
from trpo.envs import make_vector_env  # noqa: E402
from trpo.model import Actor, Critic  # noqa: E402
from trpo.sampler import collect_trajectories  # noqa: E402
from trpo.update import train_model  # noqa: E402
from trpo.utils import (conjugate_gradient, hessian_vector_product,  # noqa: E402
                        make_fisher_vector_product)


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def package_iteration_seconds(iters, warmup, flags):
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        history = train_main(['--max_iter_num', str(iters), '--goal_score', '1000000000',
                              '--log_interval', '1000', '--logdir', tmp, '--save_path', tmp, *flags]).history
    seconds = [h.seconds for h in history[warmup:]]
    steps = (history[-1].total_steps - history[warmup - 1].total_steps) if warmup else history[-1].total_steps
    return statistics.median(seconds), steps / sum(seconds)


def slides_iteration_seconds(iters, warmup):
    args = argparse.Namespace(env_name='Pendulum-v1', seed=500, gamma=0.99, max_kl=0.01, max_iter_num=iters,
                              total_sample_size=2048, goal_score=1e9)
    seconds = []
    slides_loop.run(args, lambda it, steps, avg, sec: seconds.append(sec))
    return statistics.median(seconds[warmup:]), 2200 / statistics.mean(seconds[warmup:])


def update_timings(repeats):
    torch.manual_seed(0)
    envs = make_vector_env('Pendulum-v1', 1)
    actor, critic = Actor(3, 1), Critic(3)
    batch = collect_trajectories(envs, actor, 2048, seed=0).batch
    envs.close()

    def one_update():
        a, c = copy.deepcopy(actor), copy.deepcopy(critic)
        train_model(a, c, torch.optim.Adam(c.parameters(), lr=1e-3), batch, 0.99, 0.01)

    g = torch.randn(sum(p.numel() for p in actor.parameters()))
    reference = lambda v: hessian_vector_product(actor, batch.states, v)  # noqa: E731
    ms = {'update (steps 1-6), fast FVP': median_ms(one_update, repeats),
          'CG solve (10 iters), reference FVP': median_ms(lambda: conjugate_gradient(reference, g), repeats),
          'CG solve (10 iters), fast FVP': median_ms(
              lambda: conjugate_gradient(make_fisher_vector_product(actor, batch.states), g), repeats)}
    return ms


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--iters', type=int, default=12, help='training iterations per setup')
    p.add_argument('--warmup', type=int, default=2, help='first iterations left out of the timing')
    p.add_argument('--num_envs', nargs='*', default=['1', 'auto'], help='package setups to time')
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f'machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, '
          f'Python {platform.python_version()}, torch {torch.__version__}, 1 torch thread')

    base, base_sps = slides_iteration_seconds(args.iters, args.warmup)
    print(f"{'setup':44s} {'s/iter':>8s} {'steps/s':>9s} {'speed-up':>9s}")
    print(f"{'slides loop (1 env, per-step forward, ref FVP)':44s} {base:8.3f} {base_sps:9.0f} {1.0:8.2f}x")
    for n in args.num_envs:
        sec, sps = package_iteration_seconds(args.iters, args.warmup, ['--num_envs', str(n)])
        print(f"{f'package --num_envs {n}':44s} {sec:8.3f} {sps:9.0f} {base / sec:8.2f}x")
    for n_threads in (2,):
        sec, sps = package_iteration_seconds(args.iters, args.warmup, ['--threads', str(n_threads)])
        print(f"{f'package default flags but --threads {n_threads}':44s} {sec:8.3f} {sps:9.0f} {base / sec:8.2f}x")

    ms = update_timings(repeats=7)
    for name, value in ms.items():
        print(f'{name:44s} {value:8.1f} ms')
    print(f"fast / reference: CG solve {ms['CG solve (10 iters), reference FVP'] / ms['CG solve (10 iters), fast FVP']:.2f}x")


if __name__ == '__main__':
    main()
