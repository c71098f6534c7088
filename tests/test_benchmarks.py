"""The benchmark scripts as a user runs them, on a real Ray on 127.0.0.1 (conftest): sweeps on one node and on
two, a lost node, a stop (Ctrl-C, SIGTERM, SIGKILL) that ends every run and starts no other."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest


pytestmark = pytest.mark.ray

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = [sys.executable, 'benchmarks/presets.py', '--presets', 'tuned']


@pytest.fixture(autouse=True)
def own_temporary_directory(monkeypatch, tmp_path_factory):
    """Each test gets a temporary directory of its own (TMPDIR, a short path: Ray's socket paths are limited),
    for the sweeps' run folders and Ray's sessions, and removes it after: a run killed with its worker or node
    (these tests kill some) leaves its folder there, and a copy of the suite running at the same time from
    another checkout never sees, or removes, the folders of this one."""
    tmp_path_factory.getbasetemp()  # pytest's own temporary folder first, in the real one: TMPDIR moves below
    folder = tempfile.mkdtemp(prefix='trpo-t-')
    monkeypatch.setenv('TMPDIR', folder)
    monkeypatch.setattr(tempfile, 'tempdir', None)  # gettempdir() reads TMPDIR again
    yield
    shutil.rmtree(folder, ignore_errors=True)


def start(*args, **kwargs):
    return subprocess.Popen([*PRESETS, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def parent(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except OSError:
        return None


def descendants(pid):
    """pid and every process under it (read from /proc)."""
    children = {}
    for p in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{p}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if fields[0] != 'Z':
            children.setdefault(int(fields[1]), []).append(int(p))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def title(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().split(b'\0')[0].decode(errors='replace')
    except OSError:
        return ''


def alive(pids):
    return [p for p in pids if title(p) and os.path.exists(f'/proc/{p}') and open(f'/proc/{p}/stat').read().rsplit(
        ')', 1)[1].split()[0] != 'Z']


TASK = 'ray::train_and_evaluate'  # Ray's title for a run's process (and its critic process, a fork of it)


def wait_for_runs(proc, count, ray_owner=None, timeout=300):
    """Wait until count runs of proc's sweep train, in the Ray started by ray_owner (a pid; default: proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        running = [p for p in descendants(ray_owner or proc.pid) if title(p) == TASK and title(parent(p)) != TASK]
        if len(running) >= count:
            return running
        time.sleep(0.2)
    raise AssertionError(f'{count} runs never started: {proc.communicate(timeout=60)}')


def records(folder):
    runs = {}
    for seed in os.listdir(folder):
        if seed.startswith('tuned_seed'):
            with open(folder / seed / 'run.json') as f:
                runs[seed] = json.load(f)
    return runs


def test_a_sweep_on_a_two_node_cluster_runs_on_both_nodes_and_brings_every_file_back(tmp_path):
    """A head and a second node of 1 CPU each (ray.cluster_utils.Cluster: two real nodes on this machine); the
    driver joins with --address, and writes what each run sends back: run.json, model.pth, train.log, logs."""
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out, err = start('--seeds', '1', '2', '--max_env_steps', '4096', '--address', cluster.address, '--out',
                         str(tmp_path)).communicate(timeout=400)
    finally:
        cluster.shutdown()
    assert '| tuned | 2 |' in out, err
    runs = records(tmp_path)
    assert sorted(runs) == ['tuned_seed1', 'tuned_seed2']
    assert len({run['node']['id'] for run in runs.values()}) == 2  # one run on each node
    assert {run['node']['ip'] for run in runs.values()} == {'127.0.0.1'}
    assert all(run['retried'] == 0 and run['curve'][-1][0] >= 4096 for run in runs.values())
    for seed in runs:
        assert {'model.pth', 'train.log', 'run.json', 'logs'} == set(os.listdir(tmp_path / seed))
        [run_dir] = os.listdir(tmp_path / seed / 'logs')
        assert any(f.startswith('events.out.tfevents') for f in os.listdir(tmp_path / seed / 'logs' / run_dir))


def test_a_run_whose_node_dies_is_trained_again_on_another_and_the_summary_says_so(tmp_path):
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 0})  # runs go to the two worker nodes
    try:
        nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        proc = start('--seeds', '1', '2', '--max_env_steps', '20000', '--address', cluster.address, '--out',
                     str(tmp_path))
        wait_for_runs(proc, 2, ray_owner=os.getpid())  # this process started the cluster
        cluster.remove_node(nodes[1], allow_graceful=False)  # its raylet, and the run on it, die
        out, err = proc.communicate(timeout=400)
        survivor = nodes[0].node_id
    finally:
        cluster.shutdown()
    assert proc.returncode == 0, err
    runs = records(tmp_path)
    [(lost, run)] = [(seed, run) for seed, run in runs.items() if run['retried']]
    assert run['retried'] == 1 and {r['node']['id'] for r in runs.values()} == {survivor}
    assert 'submitting it again' in err
    assert f"Trained again from the start after their worker or node was lost: tuned seed {lost[-1]} (1 time)." in out


def test_ctrl_c_keeps_the_finished_run_cancels_the_others_and_stops_ray(tmp_path):
    proc = start('--seeds', '1', '2', '3', '--jobs', '1', '--max_env_steps', '20000', '--out', str(tmp_path),
                 start_new_session=True)
    try:
        for _ in range(3000):  # until seed 1 has finished; seed 2 then trains
            if (tmp_path / 'tuned_seed1' / 'run.json').exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        everything = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert err.strip().splitlines()[-1] == ('presets.py: stopped by SIGINT: 1 of 3 runs finished and keep their '
                                            'results; run the same command to train the others (from the start)'), err
    assert os.listdir(tmp_path) == ['tuned_seed1']  # an unfinished run is never taken for a result
    for _ in range(100):
        if not alive(everything):
            break
        time.sleep(0.1)
    assert alive(everything) == []  # Ray, its workers and the critics' processes: all ended


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



@pytest.mark.skipif(not sys.platform.startswith('linux'), reason="Ray's processes die with the driver on Linux")
def test_a_killed_benchmark_takes_its_runs_with_it(tmp_path):
    proc = start('--seeds', '1', '2', '--max_env_steps', '1000000', '--out', str(tmp_path))
    everything = []
    try:
        wait_for_runs(proc, 2)
        for _ in range(600):  # until both runs have started their critic's process
            everything = descendants(proc.pid)  # the driver, Ray's processes (GCS, raylet, agents, ...), the runs
            if sum(title(p) == TASK for p in everything) == 4:
                break
            time.sleep(0.1)
        assert sum(title(p) == TASK for p in everything) == 4
        proc.kill()  # SIGKILL: no handler runs in the driver
        proc.wait()
        agents = ('ray::DashboardAgent', 'ray::RuntimeEnvAgent')  # Ray 2.60's agents linger about a minute
        for _ in range(100):
            if not [p for p in alive(everything) if title(p) not in agents]:
                break
            time.sleep(0.1)
        assert [title(p) for p in alive(everything) if title(p) not in agents] == []
        assert os.listdir(tmp_path) == []
    finally:
        for pid in alive(everything):
            os.kill(pid, signal.SIGKILL)
