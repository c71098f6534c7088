"""Seed sweeps on Ray (presets.py, sb3_reference.py): every run is a Ray task of one CPU, on this machine or
on a cluster.

--address: none starts a Ray for the sweep on this machine with --jobs CPUs, bound to 127.0.0.1 and stopped
at the end; 'auto' or host:port joins a running cluster, whose CPUs then set how many runs go side by side.
The code goes to the nodes with the sweep (Ray's working_dir: this checkout without its results); the
Python packages must be installed on every node. No filesystem is shared: a task returns its result and
its files, and the driver writes them into --out as each run finishes.

A run whose worker or node dies is submitted again (at most RETRIES times) and its record says how often.
On the first SIGINT or SIGTERM the driver cancels every pending and running run (a running one is killed)
and stops; what finished keeps its files. If the driver dies (SIGKILL), a Ray it started for the sweep ends
with it.
"""
import argparse
import contextlib
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
from importlib import metadata

from trpo.cluster import connect, first_line
from trpo.config import int_in, seed_arg
from trpo.errors import Interrupted, UserError
from trpo.stop import StopRequest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# what the nodes do not need of the checkout (gitignore patterns)
EXCLUDES = ['.git', '.venv', '/results', '/save_model', '/logs', '/videos', '__pycache__', '*.pth', '*.egg-info']
RETRIES = 3
# What a run of presets.py depends on in this checkout besides its settings and library versions (both compared
# apart): the package and the pinned versions. Not its shipped policies, nor trpo/presets.py, which only gives
# settings; nor the sweep scripts, whose choices (budget, evaluation episodes, flags) are in the settings.
LEARNING_CODE = ('trpo', ':(exclude)trpo/pretrained', ':(exclude)trpo/presets.py', 'requirements.lock')
# what a run of sb3_reference.py depends on in this package: the environments it makes and the evaluation
EVALUATION_CODE = ('trpo/envs.py', 'trpo/evaluate.py')


def git(*args):
    return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def code_commit():
    """The commit the code is at (git describe --always); where tracked files outside results/ differ from it,
    '-dirty.' and a hash of that difference, so two different sets of changes never share a name."""
    head = git('describe', '--always') or 'unknown'
    diff = git('diff', 'HEAD', '--', '.', ':(exclude)results')
    return f"{head}-dirty.{hashlib.sha1(diff.encode()).hexdigest()[:8]}" if diff else head


def write_text(path, text):
    """text into path, whole or not at all (a stopped write leaves the file as it was)."""
    with open(f'{path}.tmp', 'w') as f:
        f.write(text)
    os.replace(f'{path}.tmp', path)


def provenance(commit):
    """What a result was measured with: commit (the driver's code_commit()), and this node's library versions
    and CPU."""
    cpu = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name')),
               platform.processor() or platform.machine()) if os.path.exists('/proc/cpuinfo') else platform.machine()
    return {'commit': commit, 'python': platform.python_version(), 'versions': library_versions(), 'cpu': cpu,
            'cpus': os.cpu_count()}


def library_versions():
    """{package: version} of the libraries a result depends on, as installed here."""
    versions = {}
    for name in ('torch', 'gymnasium', 'numpy', 'mujoco', 'sb3-contrib', 'stable-baselines3'):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def same_code(measured, current, code=LEARNING_CODE, root=ROOT):
    """Whether the code_commit() names measured and current hold the same code (git pathspecs, in the repository
    at root): the same name, or two commits without local changes between which that code does not differ (a
    commit of results or docs keeps the runs measured before it)."""
    if measured == current:
        return True
    if not measured or not current or '-dirty' in measured or '-dirty' in current:
        return False
    return subprocess.run(['git', 'diff', '--quiet', measured, current, '--', *code], cwd=root,
                          capture_output=True).returncode == 0  # 1: they differ, 128: an unknown commit


def recorded(path, commit=None, code=LEARNING_CODE):
    """The run recorded in path (a JSON file); None if there is none, or (commit not None) it was measured with
    other code (same_code) or other library versions than this machine's. Runs before version 0.2 recorded no
    commit, and runs before 0.3 no versions."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        run = json.load(f)
    if commit is None:
        return run
    measured = run.get('measured_with') or {}
    same = same_code(measured.get('commit'), commit, code) and measured.get('versions') == library_versions()
    return run if same else None


def node():
    """The Ray node a task runs on: {'hostname', 'ip', 'id'}."""
    import ray
    return {'hostname': socket.gethostname(), 'ip': ray.util.get_node_ip_address(),
            'id': ray.get_runtime_context().get_node_id()}


positive_int = int_in(1, None, 'a positive integer')


class _Seeds(argparse.Action):
    """--seeds: each seed once (two runs of one seed would train into the same folder)."""

    def __call__(self, parser, namespace, values, option_string=None):
        repeated = sorted({s for s in values if values.count(s) > 1})
        if repeated:
            parser.error(f"--seeds lists {', '.join(map(str, repeated))} more than once")
        setattr(namespace, self.dest, values)


def add_run_flags(p, env_name, seeds, max_env_steps, out_help):
    """The flags both benchmarks share: which runs, their budget and evaluation, where they run, where they go."""
    p.add_argument('--env_name', default=env_name)
    p.add_argument('--seeds', nargs='+', type=seed_arg, action=_Seeds, default=seeds)
    p.add_argument('--max_env_steps', type=positive_int, default=max_env_steps)
    p.add_argument('--eval_episodes', type=positive_int, default=10)
    p.add_argument('--jobs', type=positive_int, default=2,
                   help='runs side by side on this machine (one CPU each), without --address')
    p.add_argument('--address', default=None,
                   help="the Ray cluster to run on: 'auto' (the one this machine is part of) or host:port "
                        "(default: a Ray started for the sweep on this machine, with --jobs CPUs)")
    p.add_argument('--out', default=None, help=out_help)


def run_all(fn, jobs, keep, cpus, address=None, reused=0):
    """fn(*job) for every job, each a Ray task of one CPU; keep(k, result, retried) runs here as job k finishes
    (retried: how many times its worker or node was lost). A run's UserError is raised here; a signal raises
    Interrupted, which says how many of the reused + len(jobs) runs have finished."""
    runtime_env = {'working_dir': ROOT, 'excludes': EXCLUDES}
    with StopRequest() as request, connect(address, num_cpus=cpus, runtime_env=runtime_env) as ray:
        task = ray.remote(fn).options(num_cpus=1, max_retries=0)
        pending = {task.remote(*job): k for k, job in enumerate(jobs)}
        retried, finished = [0] * len(jobs), reused
        try:
            while pending and not request.signum:
                for ref in ray.wait(list(pending), num_returns=1, timeout=0.2)[0]:
                    k = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # the run's own error
                        if isinstance(e.cause, UserError):
                            raise e.cause from None
                        raise
                    except ray.exceptions.RayError as e:  # its worker or node was lost
                        if retried[k] == RETRIES:
                            raise UserError(f"run {k + 1} was lost {RETRIES + 1} times ({first_line(e)})") from None
                        retried[k] += 1
                        print(f"warning: run {k + 1} of the sweep was lost with its worker or node "
                              f"({first_line(e)}); submitting it again", file=sys.stderr)
                        pending[task.remote(*jobs[k])] = k
                        continue
                    keep(k, result, retried[k])
                    finished += 1
            if request.signum and pending:  # runs that finished before the stop are kept, seen or not
                for ref in ray.wait(list(pending), num_returns=len(pending), timeout=0)[0]:
                    with contextlib.suppress(ray.exceptions.RayError):
                        result, k = ray.get(ref), pending.pop(ref)
                        keep(k, result, retried[k])
                        finished += 1
        finally:  # a stop, or an error: nothing goes on training
            stop(ray, list(pending))
    if request.signum:
        raise Interrupted(f"stopped by {signal.Signals(request.signum).name}: {finished} of {reused + len(jobs)} runs "
                          f"finished and keep their results; run the same command to train the others "
                          f"(from the start)", request.signum)


def stop(ray, refs):
    """Cancel the tasks refs: those not started, and those running (their worker process is killed). One cancel
    each: a SIGINT (Ray's graceful cancel) and then a kill for the same task once made Ray 2.60's driver abort
    ('Tried to complete task that was not pending') when the task replied in between."""
    for ref in refs:
        ray.cancel(ref, force=True)
