"""--sampler ray: Ray's rollout workers on a real Ray on 127.0.0.1 (conftest), against the local sampler."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

import trpo
from trpo.checkpoint import load_checkpoint, load_policy
from trpo.cluster import connect
from trpo.errors import UserError
from test_benchmarks import descendants, title
from test_scripts import ROOT, assert_one_line_error, run

pytestmark = pytest.mark.ray


@pytest.fixture(scope='module')
def local_ray():
    """One Ray of 2 CPUs for the module's runs (trpo.train uses a Ray that is already up), stopped at the end."""
    with connect(num_cpus=2) as ray:
        yield ray


def train(folder, callbacks=(), **options):
    """trpo.train on tuned Pendulum-v1 into folder; returns (TrainResult, the final actor's state_dict)."""
    config = trpo.TrainConfig(preset='tuned', save_path=str(folder), logdir=str(folder / 'logs'), quiet=True, **options)
    result = trpo.train(config, callbacks)
    return result, load_policy(result.paths['model'])[0].state_dict()


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope='module')
def two_workers(tmp_path_factory, local_ray):
    """6 iterations with 2 rollout workers, undisturbed: the run the other tests must reproduce."""
    return train(tmp_path_factory.mktemp('two_workers'), max_iter_num=6, sampler='ray', num_workers=2)


def test_one_worker_samples_the_very_batches_of_the_local_sampler(tmp_path, local_ray):
    """Worker 0 continues the trainer's generators: the same batches, so the same actor bit for bit (the local
    run fits the critic in its worker process, the Ray run in the trainer while the workers sample)."""
    local_result, local = train(tmp_path / 'local', max_iter_num=4)
    ray_result, one = train(tmp_path / 'ray', max_iter_num=4, sampler='ray', num_workers=1)
    assert same(local, one)
    assert [r.avg100 for r in local_result.history] == [r.avg100 for r in ray_result.history]


def test_two_workers_sample_whole_episodes_adding_up_to_the_batch(two_workers):
    result, _ = two_workers
    # tuned Pendulum: 1024 steps per batch, 512 per worker, each in 3 environments of 200-step episodes
    assert result.config.num_envs == 3
    assert [r.total_steps for r in result.history] == [1200 * i for i in range(1, 7)]
    assert load_checkpoint(result.paths['checkpoint'])['episodes'] == 36


def rollout_workers():
    """pids of this test's processes that Ray names ray::RolloutWorker (its process title for the actor): the Ray
    of the run is this process's child, so a copy of the suite running at the same time keeps its own workers."""
    return [pid for pid in descendants(os.getpid()) if title(pid).startswith('ray::RolloutWorker')]


def kill_when_sampling(pids, killed, deadline):
    """SIGKILL the first of pids seen executing sample() (Ray's title ray::RolloutWorker.sample)."""
    while not killed and time.monotonic() < deadline:
        for pid in pids:
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    if b'.sample' in f.read():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
            except OSError:
                pass


def test_a_worker_killed_while_sampling_is_restarted_and_the_run_is_unchanged(tmp_path, two_workers, capsys):
    killed = []

    def after_iteration(record):  # from the 3rd batch on, kill a worker in the middle of sampling it
        if record.iteration == 2:
            threading.Thread(target=kill_when_sampling, args=(rollout_workers(), killed, time.monotonic() + 30),
                             daemon=True).start()

    result, actor = train(tmp_path, [after_iteration], max_iter_num=6, sampler='ray', num_workers=2)
    assert len(killed) == 1
    assert result.stop_reason == 'max_iter_num' and len(result.history) == 6
    assert same(actor, two_workers[1])  # the batch sampled again from the same random states: the same run
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith('warning:')]
    assert len(warnings) == 1 and f'(process {killed[0]}) and Ray restarted it' in warnings[0], warnings


def test_a_run_with_workers_resumes_bit_for_bit(tmp_path, two_workers):
    first, _ = train(tmp_path, max_iter_num=3, sampler='ray', num_workers=2)
    resumed = trpo.train(trpo.from_checkpoint(first.paths['checkpoint'], max_iter_num=6, sampler='ray'))
    assert same(load_policy(resumed.paths['model'])[0].state_dict(), two_workers[1])
    with pytest.raises(UserError, match='was trained with num_workers 2, not 3'):
        trpo.train(trpo.from_checkpoint(first.paths['checkpoint'], max_iter_num=6, num_workers=3))
    with pytest.raises(UserError, match='was trained with sampler ray, not local'):
        trpo.train(trpo.from_checkpoint(first.paths['checkpoint'], max_iter_num=6, sampler='local'))


def test_more_workers_than_the_rays_cpus_is_a_one_line_error(tmp_path, local_ray):
    with pytest.raises(UserError, match='num_workers 3 needs as many CPUs in the Ray cluster, which has 2'):
        train(tmp_path, max_iter_num=1, sampler='ray', num_workers=3)


def test_train_py_with_two_workers_learns_pendulum_within_the_local_samplers_range(tmp_path):
    """python train.py --sampler ray --num_workers 2 (a Ray of its own, started and stopped by the run) reaches
    the slides' goal, -300, within the range the default sampler takes over seeds 1-20: 176,000-477,400 steps."""
    code, out, err = run('train.py', '--sampler', 'ray', '--num_workers', '2', '--logdir',
                         str(tmp_path / 'logs'), '--save_path', str(tmp_path / 'm'), timeout=600)
    assert code == 0, err
    assert '2 rollout workers of 6 environments each, on 1 Ray node' in out
    steps = int(re.search(r'stopped after \d+ iterations \((\d+) steps\): the 100-episode average -?[\d.]+ > '
                          r'goal_score -300;', out)[1])
    assert 176_000 <= steps <= 477_400, steps


def test_without_ray_installed_the_sampler_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from trpo.cli import train_main; "
            f"train_main(['--sampler', 'ray', '--save_path', {str(tmp_path)!r}, '--logdir', {str(tmp_path)!r}])")
    p = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert_one_line_error(p.returncode, p.stderr, 'Ray is not installed', "pip install 'ray>=2.40'")
