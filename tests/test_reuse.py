"""When the sweeps reuse a recorded run instead of training it again (benchmarks/sweep.py, presets.py,
sb3_reference.py): only with the same settings, library versions and code."""
import json
import subprocess

from benchmarks import sb3_reference as sb3
from benchmarks.presets import reused, settings, train_argv
from benchmarks.sweep import ROOT, code_commit, library_versions, same_code


def test_a_run_is_reused_only_with_the_same_settings_commit_and_versions(tmp_path):
    out = str(tmp_path)
    job = ('Pendulum-v1', 'tuned', 1, 4096, out, [], 10)
    (tmp_path / 'tuned_seed1').mkdir()
    run = {'settings': settings(train_argv(*job[:4], out, [])), 'eval': [0.0] * 10,
           'measured_with': {'commit': 'abc1234', 'versions': library_versions()}}

    def record(run):
        (tmp_path / 'tuned_seed1' / 'run.json').write_text(json.dumps(run))

    record(run)
    assert reused(*job, 'abc1234') == run
    assert reused(*job, 'def5678') is None  # other code (a commit git does not know): trained again
    assert reused(*job) == run  # --summarize: whatever commit
    del run['settings']['sampler']  # a run recorded before --sampler existed: it sampled locally
    record(run)
    assert reused(*job, 'abc1234') == run
    assert reused('Pendulum-v1', 'tuned', 1, 8192, out, [], 10, 'abc1234') is None  # another budget
    assert reused('Pendulum-v1', 'tuned', 1, 4096, out, ['--max_kl', '0.02'], 10, 'abc1234') is None
    assert reused('Pendulum-v1', 'tuned', 1, 4096, out, [], 5, 'abc1234') is None  # another evaluation
    record({**run, 'measured_with': {'commit': 'abc1234', 'versions': {**library_versions(), 'torch': '1.0'}}})
    assert reused(*job, 'abc1234') is None  # another torch
    head = subprocess.run(['git', 'describe', '--always'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert code_commit().split('-dirty.')[0] == head


def commit(repo, files):
    """Write files ({path: text}) in the git repository repo and commit them; return the commit's name."""
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git = ['git', '-C', str(repo), '-c', 'user.name=t', '-c', 'user.email=t@t']
    subprocess.run([*git, 'add', '-A'], check=True)
    subprocess.run([*git, 'commit', '-qm', 'x'], check=True)
    return subprocess.run([*git, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()


def test_a_run_counts_at_a_later_commit_only_if_the_learning_code_is_the_same(tmp_path):
    subprocess.run(['git', 'init', '-q', str(tmp_path)], check=True)
    base = commit(tmp_path, {'trpo/update.py': 'a', 'trpo/presets.py': 'p', 'trpo/pretrained/H.pth': '1',
                             'trpo/evaluate.py': 'e', 'requirements.lock': 'torch==1', 'README.md': 'r',
                             'results/x/run.json': '{}', 'benchmarks/presets.py': 'b'})
    docs = commit(tmp_path, {'README.md': 'r2', 'results/x/run.json': '{"a": 1}', 'benchmarks/presets.py': 'b2'})
    preset = commit(tmp_path, {'trpo/presets.py': 'p2'})  # what it changes is in the runs' settings
    shipped = commit(tmp_path, {'trpo/pretrained/H.pth': '2'})
    evaluation = commit(tmp_path, {'trpo/evaluate.py': 'e2'})
    learning = commit(tmp_path, {'trpo/update.py': 'a2'})
    lock = commit(tmp_path, {'requirements.lock': 'torch==2'})

    def same(a, b, **kw):
        return same_code(a, b, root=tmp_path, **kw)

    assert same(base, docs) and same(base, preset) and same(base, shipped)
    assert not same(base, evaluation) and not same(shipped, learning) and not same(learning, lock)
    assert not same(base, learning, code=('trpo/presets.py',)) and same(base, docs, code=('trpo/evaluate.py',))
    assert not same(docs, f'{docs}-dirty.0123abcd')  # local changes: only the same name counts
    assert same(f'{docs}-dirty.0123abcd', f'{docs}-dirty.0123abcd')
    assert not same(base, 'fffffff') and not same(None, base)


def test_a_reference_run_is_reused_with_the_same_settings_and_versions_whatever_the_commit(tmp_path):
    settings = sb3.run_settings('Walker2d-v5', 1_000_000, 10)
    run = {'seed': 1, 'settings': settings, 'measured_with': {'commit': 'abc1234', 'versions': library_versions()}}
    path = tmp_path / 'seed1.json'
    path.write_text(json.dumps(run))
    assert sb3.reused(str(path), settings, 'abc1234') == {'preset': 'sb3-contrib', **run}
    assert sb3.reused(str(path), sb3.run_settings('Walker2d-v5', 500_000, 10), 'abc1234') is None
    assert sb3.reused(str(path), settings, 'fffffff') is None  # environments or evaluation not known the same
    path.write_text(json.dumps({**run, 'measured_with': {'commit': 'abc1234',
                                                         'versions': {**library_versions(), 'sb3-contrib': '0.1'}}}))
    assert sb3.reused(str(path), settings, 'abc1234') is None
    del run['measured_with']  # a run that recorded neither is trained again
    path.write_text(json.dumps(run))
    assert sb3.reused(str(path), settings, 'abc1234') is None


def test_the_reference_takes_the_zoo_entry_of_each_task_or_its_default():
    assert sb3.ZOO['Swimmer-v5']['gamma'] == 0.9999 and sb3.ZOO['Walker2d-v5']['gamma'] == 0.99
    assert sb3.ZOO['HalfCheetah-v5']['target_kl'] == 0.04 and 'target_kl' not in sb3.ZOO['Hopper-v5']
    assert sb3.ZOO['Reacher-v5'] == {'n_envs': 1, 'normalize': False}  # the zoo's default: SB3-contrib's own values
    assert sb3.ZOO['Ant-v5']['normalize'] and sb3.ZOO['Ant-v5']['n_envs'] == 2
