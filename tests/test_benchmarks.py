"""The benchmark scripts as a user runs them: a stop (Ctrl-C, SIGTERM) ends every run and starts no other."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from benchmarks.jobs import run_all
from trpo.errors import Interrupted

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nap(seconds, name):
    time.sleep(seconds)
    return name


def test_a_signal_stops_the_run_in_progress_and_keeps_the_finished_one():
    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()  # while 'slow' sleeps
    start = time.monotonic()
    with pytest.raises(Interrupted) as stopped:
        run_all(nap, [(0, 'quick'), (60, 'slow'), (0, 'never')], workers=1)
    assert time.monotonic() - start < 10
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert 'stopped by SIGTERM: 1 of 3 runs finished' in str(stopped.value)


def test_without_a_signal_every_result_comes_back_in_order():
    assert run_all(nap, [(0.2, 'a'), (0, 'b'), (0.1, 'c')], workers=2) == ['a', 'b', 'c']


def test_ctrl_c_on_presets_saves_the_training_and_starts_no_other_seed(tmp_path):
    proc = subprocess.Popen([sys.executable, 'benchmarks/presets.py', '--env_name', 'Pendulum-v1', '--presets',
                             'tuned', '--seeds', '1', '2', '3', '--jobs', '1', '--max_env_steps', '1000000',
                             '--out', str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    first = tmp_path / 'tuned_seed1'
    try:
        for _ in range(1200):  # wait until seed 1 has finished an iteration
            if os.path.exists(first / 'checkpoint.pth') or proc.poll() is not None:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGINT
    lines = err.strip().splitlines()
    assert lines == ['presets.py: stopped by SIGINT: 0 of 3 runs finished and keep their results; run the same '
                     'command to train the others (from the start)'], err
    assert (first / 'checkpoint.pth').exists() and (first / 'model.pth').exists()
    assert not (first / 'run.json').exists()  # an unfinished run is never taken for a result
    assert sorted(os.listdir(tmp_path)) == ['tuned_seed1']


@pytest.mark.parametrize('args, line', [
    (['--seeds', '1', '2', '--bogus', '3'], 'unrecognized arguments: --bogus 3'),  # a flag train.py does not know
    (['--seeds', '1', '2', '1'], '--seeds lists 1 more than once'),
    (['--seeds', '-1'], "argument --seeds: must be an integer in [0, 2**32), got '-1'"),
    (['--jobs', '0'], "argument --jobs: must be a positive integer, got '0'"),
    (['--eval_episodes', '0'], "argument --eval_episodes: must be a positive integer, got '0'"),
    (['--max_env_steps', '-5'], "argument --max_env_steps: must be a positive integer, got '-5'"),
])
def test_bad_flags_are_one_line_before_any_run(tmp_path, args, line):
    p = subprocess.run([sys.executable, 'benchmarks/presets.py', '--out', str(tmp_path), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f'presets.py: error: {line} (see --help)']
    assert os.listdir(tmp_path) == []


def processes_mentioning(text):
    """pids of the processes whose command line holds text (read from /proc)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if text.encode() in f.read():
                    pids.append(int(pid))
        except OSError:  # it ended meanwhile
            pass
    return pids


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='the workers die with the benchmark on Linux')
def test_a_killed_benchmark_takes_its_workers_with_it(tmp_path):
    proc = subprocess.Popen([sys.executable, 'benchmarks/presets.py', '--presets', 'tuned', '--seeds', '1', '2',
                             '--max_env_steps', '1000000', '--out', str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seeds = [tmp_path / f'tuned_seed{s}' / 'checkpoint.pth' for s in (1, 2)]
    try:
        for _ in range(1200):  # wait until both runs are training
            if all(map(os.path.exists, seeds)) or proc.poll() is not None:
                break
            time.sleep(0.05)
        # the benchmark, its two workers, and each worker's critic process (--critic_process auto, tuned preset)
        assert len(processes_mentioning(str(tmp_path))) == 5
        proc.kill()  # SIGKILL: no handler runs in the benchmark
        proc.wait()
        for _ in range(100):
            if not processes_mentioning(str(tmp_path)):
                break
            time.sleep(0.1)
        assert processes_mentioning(str(tmp_path)) == []
        assert all(map(os.path.exists, seeds))  # each run keeps its last checkpoint
    finally:
        for pid in processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)
