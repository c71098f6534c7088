"""Runs side by side in worker processes, and a clean stop on Ctrl-C or SIGTERM (presets.py, sb3_reference.py).

On the first SIGINT or SIGTERM the benchmark tells every worker to stop: a training in progress
gets one SIGINT (train.py then finishes its iteration, saves its checkpoint and stops; other code
stops with KeyboardInterrupt), no run starts after it, and what finished keeps its files.
The workers leave the terminal's process group, so Ctrl-C reaches them only through the benchmark,
once, and never while they are between runs. If the benchmark dies without that stop (SIGKILL, a
closed terminal), the kernel kills its workers too (Linux); each run keeps its last checkpoint.
"""
import argparse
import ctypes
import multiprocessing
import os
import platform
import signal
import subprocess
import threading
from importlib import metadata
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

from trpo.stop import StopRequest
from trpo.config import int_in, seed_arg
from trpo.errors import Interrupted

_stop = None  # in a worker: the Event the benchmark sets to stop


def _start_worker(stop, parent):
    global _stop
    _stop = stop
    _die_with(parent)
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # between runs a stop is not an error
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_signal_when_set, args=(stop,), daemon=True).start()


def _die_with(parent):
    """Ask Linux to SIGKILL this worker when its parent dies: prctl(PR_SET_PDEATHSIG, SIGKILL)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: a killed benchmark leaves its runs to finish
        return
    if os.getppid() != parent:  # it died before the request
        os._exit(1)


def _signal_when_set(stop):
    stop.wait()
    os.kill(os.getpid(), signal.SIGINT)


def _run_one(fn, args):
    """fn(*args) in a worker, or None if the benchmark stopped before or during it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _stop.is_set():
            return None
        return fn(*args)
    except (KeyboardInterrupt, Interrupted):
        return None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def provenance():
    """What a result was measured with: the commit, the library versions and the CPU."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=root, capture_output=True, text=True)
    cpu = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name')),
               platform.processor() or platform.machine()) if os.path.exists('/proc/cpuinfo') else platform.machine()
    versions = {}
    for name in ('torch', 'gymnasium', 'numpy', 'mujoco', 'sb3-contrib', 'stable-baselines3'):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {'commit': git.stdout.strip() or 'unknown', 'python': platform.python_version(), 'versions': versions,
            'cpu': cpu, 'cpus': os.cpu_count()}


positive_int = int_in(1, None, 'a positive integer')


class _Seeds(argparse.Action):
    """--seeds: each seed once (two runs of one seed would train into the same folder)."""

    def __call__(self, parser, namespace, values, option_string=None):
        repeated = sorted({s for s in values if values.count(s) > 1})
        if repeated:
            parser.error(f"--seeds lists {', '.join(map(str, repeated))} more than once")
        setattr(namespace, self.dest, values)


def add_run_flags(p, env_name, seeds, max_env_steps, out_help):
    """The flags both benchmarks share: which runs, their budget and evaluation, how many side by side, where."""
    p.add_argument('--env_name', default=env_name)
    p.add_argument('--seeds', nargs='+', type=seed_arg, action=_Seeds, default=seeds)
    p.add_argument('--max_env_steps', type=positive_int, default=max_env_steps)
    p.add_argument('--eval_episodes', type=positive_int, default=10)
    p.add_argument('--jobs', type=positive_int, default=2, help='runs side by side (one core each)')
    p.add_argument('--out', default=None, help=out_help)


def run_all(fn, jobs, workers):
    """[fn(*job) for job in jobs], `workers` at a time. A run's error is raised here; a signal
    raises Interrupted, which says how many runs finished."""
    stop = multiprocessing.Event()
    with StopRequest() as request, ProcessPoolExecutor(workers, initializer=_start_worker,
                                                     initargs=(stop, os.getpid())) as pool:
        futures = [pool.submit(_run_one, fn, job) for job in jobs]
        pending = futures
        while pending and not request.signum:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in done):
                break
        stop.set()  # nothing left to do, or stop every run
    if request.signum:
        finished = sum(f.exception() is None and f.result() is not None for f in futures)
        raise Interrupted(f"stopped by {signal.Signals(request.signum).name}: {finished} of {len(jobs)} runs "
                          f"finished and keep their results; run the same command to train the others "
                          f"(from the start)", request.signum)
    return [f.result() for f in futures]  # result() raises the first failed run's error
