"""What Ray buys on one machine (docs/scaling.md): prints the figures, writes nothing but temporary files.

    python benchmarks/scaling.py iterations [--batch 50000 --iterations 3]
    python benchmarks/scaling.py sweep [--seeds 1 2 --max_env_steps 20000]

iterations: seconds per iteration of Hopper-v5 (tuned) with a --batch-step batch, sampled here
(--sampler local) and by 1 and 2 Ray rollout workers (a Ray of their own, started by the run), and how
much of it the update (steps 1, 3-6) and the critic's fit take; the first iteration (the workers' start) is left out.
sweep: the wall time of benchmarks/presets.py on tuned Pendulum-v1 for --seeds, on a Ray cluster
of one node and of two nodes, each of 1 CPU (ray.cluster_utils.Cluster, on this machine).
Measure on an idle machine: nothing else may run beside it.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402

import trpo  # noqa: E402
from benchmarks.sweep import ROOT  # noqa: E402
from speed import Stopwatch  # noqa: E402
from trpo.critic_fit import CriticFitter  # noqa: E402


def iterations(batch, count):
    """{sampler: {'iteration', 'update', 'fit', 'sampling'}}: median seconds per iteration over count iterations,
    and the median seconds of the update (steps 3-6), the critic's fit (step 2) and, sampled here, the sampling."""
    figures = {}
    for label, options in (('local', {}), ('ray, 1 worker', dict(sampler='ray', num_workers=1)),
                           ('ray, 2 workers', dict(sampler='ray', num_workers=2))):
        parts = {'update': [], 'fit': [], 'sampling': []}

        def after(record):  # the Stopwatch's totals so far -> this iteration's share
            seconds = {'update': watch.seconds['update'], 'sampling': watch.seconds['sampling'],
                       'fit': watch.seconds['critic fit here'] + fitter_seconds()}
            for name, total in seconds.items():
                parts[name].append(total - sum(parts[name]))

        def fitter_seconds():  # the critic's worker process (local sampler) reports its fits' seconds
            return sum(f.worker_seconds for f in fitters)

        fitters = []
        original_init = CriticFitter.__init__

        def init(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            fitters.append(self)

        CriticFitter.__init__ = init
        try:
            with tempfile.TemporaryDirectory() as folder, Stopwatch() as watch:
                config = trpo.TrainConfig(env_name='Hopper-v5', preset='tuned', total_sample_size=batch,
                                          max_iter_num=count + 1, save_path=folder, logdir=folder, quiet=True, **options)
                history = trpo.train(config, [after]).history
        finally:
            CriticFitter.__init__ = original_init
        figures[label] = {'iteration': float(np.median([r.seconds for r in history[1:]])),
                          **{name: float(np.median(values[1:])) for name, values in parts.items()}}
        f = figures[label]
        print(f"{label}: {f['iteration']:.2f} s per iteration; update {f['update']:.2f} s, critic fit {f['fit']:.2f} s"
              + (f", sampling {f['sampling']:.2f} s" if not options else '') +
              f' ({history[1].total_steps - history[0].total_steps} steps per batch)', flush=True)
    return figures


def sweep(seeds, max_env_steps, nodes):
    """Wall seconds of a presets.py sweep on a cluster of `nodes` nodes of 1 CPU each (the driver joins it)."""
    os.environ.setdefault('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0')  # the cluster on 127.0.0.1 only
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 1})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([sys.executable, 'benchmarks/presets.py', '--presets', 'tuned', '--seeds', *map(str, seeds),
                            '--max_env_steps', str(max_env_steps), '--address', cluster.address, '--out', out],
                           cwd=ROOT, check=True, capture_output=True)
            seconds = time.perf_counter() - start
    finally:
        cluster.shutdown()
    print(f"{nodes} node{'s' if nodes > 1 else ''} of 1 CPU: {len(seeds)} runs of {max_env_steps} steps in "
          f'{seconds:.1f} s', flush=True)
    return seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['iterations', 'sweep'])
    p.add_argument('--batch', type=int, default=50_000)
    p.add_argument('--iterations', type=int, default=3)
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2])
    p.add_argument('--max_env_steps', type=int, default=20_000)
    args = p.parse_args()
    if args.what == 'iterations':
        iterations(args.batch, args.iterations)
    else:
        for nodes in (1, 2):
            sweep(args.seeds, args.max_env_steps, nodes)


if __name__ == '__main__':
    main()
