"""A user's second hour: several runs side by side, resuming from Python, shipped policies, the logs of resumed
copies, errors in the caller's words, the stop line's numbers, and what TensorBoard shows first."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trpo
from trpo.checkpoint import load_checkpoint
from trpo.cli import train_main
from test_scripts import ROOT, assert_one_line_error, run

pytestmark = pytest.mark.integration


def quick(folder, **options):
    """A TrainConfig of a short Pendulum run with its files in folder."""
    return trpo.TrainConfig(**{'save_path': str(folder / 'm'), 'logdir': str(folder / 'logs'), 'quiet': True,
                               'max_iter_num': 2, **options})


def files(folder):
    """{name: bytes} of the run files in folder."""
    return {name: (folder / name).read_bytes() for name in ('model.pth', 'checkpoint.pth', 'best_model.pth')
            if (folder / name).exists()}


# 1. nothing a user trained is replaced without asking

def test_a_new_run_refuses_a_save_path_holding_another_runs_files_and_leaves_them_as_they_were(tmp_path):
    trpo.train(quick(tmp_path, eval_interval=1, eval_episodes=1))
    before = files(tmp_path / 'm')
    assert set(before) == {'model.pth', 'checkpoint.pth', 'best_model.pth'}
    with pytest.raises(trpo.UserError, match=r"save_path .* holds model.pth, checkpoint.pth, best_model.pth of "
                                             r"another run; pass another save_path .* or set overwrite") as e:
        trpo.train(quick(tmp_path, env_name='CartPole-v1'))
    assert '--' not in str(e.value)  # from Python, the fields' names
    assert files(tmp_path / 'm') == before
    code, out, err = run('train.py', '--env_name', 'CartPole-v1', '--save_path', str(tmp_path / 'm'),
                         '--logdir', str(tmp_path / 'logs'))
    assert_one_line_error(code, err, '--save_path', '--overwrite', f"--load_model {tmp_path / 'm' / 'checkpoint.pth'}")
    assert files(tmp_path / 'm') == before
    result = trpo.train(quick(tmp_path, env_name='CartPole-v1', overwrite=True))  # asked: replaced
    assert trpo.load_policy(result.paths['model'])[1]['env_name'] == 'CartPole-v1'
    assert not (tmp_path / 'm' / 'best_model.pth').exists()  # the other run's best policy does not pass for this one'


def test_a_run_continues_in_its_own_save_path_but_a_second_continuation_of_the_same_checkpoint_asks(tmp_path):
    first = trpo.train(quick(tmp_path))
    kept = str(tmp_path / 'kept.pth')
    shutil.copy(first.paths['checkpoint'], kept)  # the checkpoint after iteration 2
    trpo.train(trpo.from_checkpoint(first.paths['checkpoint'], max_iter_num=3))  # its own files: no question
    assert load_checkpoint(first.paths['checkpoint'])['iteration'] == 3
    with pytest.raises(trpo.UserError, match='of another run'):  # iteration 3's files are not iteration 2's to replace
        trpo.train(trpo.from_checkpoint(kept, max_iter_num=4))
    assert load_checkpoint(first.paths['checkpoint'])['iteration'] == 3


def test_the_readme_flow_keeps_three_models_and_test_py_plays_each(tmp_path):
    """python train.py, then Hopper and CartPole in folders of their own (as the README says); test.py plays each."""
    for flags in ([], ['--env_name', 'Hopper-v5', '--preset', 'tuned', '--save_path', 'save_model/hopper'],
                  ['--env_name', 'CartPole-v1', '--preset', 'tuned', '--save_path', 'save_model/cartpole']):
        code, out, err = run('train.py', '--max_iter_num', '1', '--logdir', str(tmp_path / 'logs'), *flags, cwd=tmp_path)
        assert code == 0, err
    for model, env_name in (('save_model/model.pth', 'Pendulum-v1'), ('save_model/hopper/model.pth', 'Hopper-v5'),
                            ('save_model/cartpole/model.pth', 'CartPole-v1')):
        code, out, err = run('test.py', '--load_model', model, '--episodes', '1', '--no-render', cwd=tmp_path)
        assert code == 0 and out.startswith(f'loaded {model} ({env_name})'), (out, err)


# 2. resuming from Python is resuming from the command line

def test_a_resume_from_python_equals_the_command_lines_with_evaluation_and_paths_kept(tmp_path):
    for name in ('py', 'cli'):  # two identical runs: tuned, evaluated, 6 environments (not 'auto''s 11)
        trpo.train(quick(tmp_path / name, preset='tuned', eval_interval=2, eval_episodes=2, num_envs=6))
    py = trpo.train(trpo.TrainConfig(load_model=str(tmp_path / 'py' / 'm' / 'checkpoint.pth'), max_iter_num=4))
    cli = train_main(['--load_model', str(tmp_path / 'cli' / 'm' / 'checkpoint.pth'), '--max_iter_num', '4'])
    assert [r.iteration for r in py.history] == [3, 4] and [r.eval_return is not None for r in py.history] == [False, True]
    def same(record):
        return record.iteration, record.total_steps, record.avg100, record.update, record.eval_return
    assert [same(r) for r in py.history] == [same(r) for r in cli.history]
    assert py.config.num_envs == 6 and py.config.preset == 'tuned' and py.config.quiet
    assert py.paths['model'] == str(tmp_path / 'py' / 'm' / 'model.pth') and 'best_model' in py.paths
    a, b = (trpo.load_policy(r.paths['model'])[0].state_dict() for r in (py, cli))
    assert all(torch.equal(a[k], b[k]) for k in a)


# 3. the shipped policies, from Python

def test_load_policy_takes_a_shipped_policys_environment_id():
    actor, info = trpo.load_policy('Hopper-v5')
    assert info['env_name'] == 'Hopper-v5' and trpo.pretrained_model('Hopper-v5').endswith('Hopper-v5.pth')
    with pytest.raises(trpo.UserError, match="'Hopper-v9' does not exist"):
        trpo.load_policy('Hopper-v9')


# 4. a resume logs where the user looks, and never into another continuation's history

def scalar_steps(folder):
    """{tag: [steps]} of a TensorBoard run folder."""
    events = EventAccumulator(str(folder), size_guidance={'scalars': 0})
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()['scalars']}


def test_a_copied_or_twice_resumed_checkpoint_logs_to_a_new_folder_with_the_history_up_to_it(tmp_path):
    first = trpo.train(quick(tmp_path, run_name='run'))
    original = first.paths['run_dir']
    copy = tmp_path / 'copy'
    copy.mkdir()
    shutil.copy(first.paths['checkpoint'], copy / 'checkpoint.pth')
    kept = scalar_steps(original)

    own = trpo.train(trpo.from_checkpoint(first.paths['checkpoint'], max_iter_num=3))  # stopped, then continued
    assert own.paths['run_dir'] == original
    continued = scalar_steps(original)
    assert continued['log/avg100'] == [2200, 4400, 6600] and continued['log/score'] == list(range(1, 34))

    copied = trpo.train(trpo.from_checkpoint(str(copy / 'checkpoint.pth'), save_path=str(copy), max_iter_num=4))
    assert copied.paths['run_dir'] == original + '_from2'
    assert scalar_steps(original) == continued  # the original's history is untouched
    branch = scalar_steps(copied.paths['run_dir'])
    assert branch['log/avg100'] == [2200, 4400, 6600, 8800]  # its own history: up to the checkpoint, then its own
    assert branch['log/score'] == list(range(1, 45))
    assert {tag: steps[:len(kept[tag])] for tag, steps in branch.items()} == kept
    for folder in (branch, continued):  # never two pasts in one folder: each x axis goes only forward
        for tag, steps in folder.items():
            assert steps == sorted(steps) and (tag == 'log/episode_return' or len(set(steps)) == len(steps)), tag


# 5. errors in the caller's words, before anything is written

def test_a_bad_value_from_python_names_the_field_and_the_script_names_the_flag(tmp_path):
    with pytest.raises(trpo.UserError) as e:
        trpo.train(quick(tmp_path, max_kl=-1.0))
    assert str(e.value).startswith('max_kl must be positive and finite')
    code, out, err = run('train.py', '--max_kl', '-1')
    assert_one_line_error(code, err, '--max_kl must be positive and finite')


@pytest.mark.parametrize('callbacks', [lambda record: False, 3, [print, 'not a function']])
def test_callbacks_that_are_not_a_list_of_functions_are_refused_before_anything_is_written(tmp_path, callbacks):
    with pytest.raises(trpo.UserError, match='callbacks must be a list of functions'):
        trpo.train(quick(tmp_path), callbacks)
    assert not (tmp_path / 'm').exists() and not (tmp_path / 'logs').exists()


# 6. the stop line and the scripts' words

def test_the_stop_line_gives_the_average_and_the_goal(tmp_path):
    code, out, err = run('train.py', '--goal_score', '-2000', '--save_path', str(tmp_path / 'm'),
                         '--logdir', str(tmp_path / 'logs'))
    last = out.strip().splitlines()[-1]
    assert code == 0 and last.startswith('stopped after 1 iteration (2200 steps): the 100-episode average -')
    assert ' > goal_score -2000; saved ' in last


@pytest.mark.parametrize('quiet', [False, True])
def test_ctrl_c_is_reported_once_in_words_with_the_line_to_continue(tmp_path, quiet):
    save = tmp_path / 'm'
    proc = subprocess.Popen([sys.executable, 'train.py', '--max_iter_num', '100000', '--save_path', str(save),
                             '--logdir', str(tmp_path / 'logs'), *(['--quiet'] if quiet else [])], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if (save / 'checkpoint.pth').exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert (out + err).count('SIGINT') == 1 and 'interrupted by Ctrl-C (SIGINT)' in (err if quiet else out)
    assert err.strip().endswith(f"continue with: python train.py --load_model {save / 'checkpoint.pth'}")
    assert len(err.strip().splitlines()) == 1 and (out == '') == quiet


def test_recorded_videos_are_numbered_as_the_episodes_and_never_replace_others(tmp_path):
    code, out, err = run('test.py', '--load_model', 'Pendulum-v1', '--episodes', '2', '--record', str(tmp_path / 'v'))
    assert code == 0, err
    assert 'episode 1: return' in out and 'episode 2: return' in out
    assert sorted(os.listdir(tmp_path / 'v')) == ['Pendulum-v1-episode-1.mp4', 'Pendulum-v1-episode-2.mp4']
    before = (tmp_path / 'v' / 'Pendulum-v1-episode-1.mp4').read_bytes()
    code, out, err = run('test.py', '--load_model', 'Pendulum-v1', '--episodes', '1', '--record', str(tmp_path / 'v'))
    assert_one_line_error(code, err, str(tmp_path / 'v'), 'already holds 2 video(s)')
    assert (tmp_path / 'v' / 'Pendulum-v1-episode-1.mp4').read_bytes() == before


@pytest.mark.parametrize('args, words', [(['--env_name', 'Pendulum'], ["did you mean 'Pendulum-v1'?"]),
                                          (['--max-kl', '0.1'], ['--max-kl', 'did you mean --max_kl?'])])
def test_a_near_miss_gets_the_likely_name(args, words):
    code, out, err = run('train.py', *args)
    assert_one_line_error(code, err, *words)


# 7. TensorBoard opens on the learning curves

def test_the_first_tensorboard_groups_are_the_learning_curves(tmp_path):
    result = trpo.train(quick(tmp_path, eval_interval=1, eval_episodes=1, max_iter_num=1))
    tags = scalar_steps(result.paths['run_dir'])
    groups = sorted({tag.split('/')[0] for tag in tags})
    assert groups[:2] == ['eval', 'log'] and {'log/score', 'log/avg100', 'log/episode_return'} <= set(tags)
    assert tags['log/score'] == list(range(1, 12))  # the slides' tag, x = episodes


def test_the_readmes_python_example_runs(tmp_path):
    """The README's Python block, as a user pastes it, in a folder of their own."""
    readme = open(os.path.join(ROOT, 'README.md')).read()
    code = readme.split('The same from Python', 1)[1].split('```python', 1)[1].split('```', 1)[0]
    env = dict(os.environ, PYTHONPATH=ROOT, MUJOCO_GL='egl')
    p = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == 'max_env_steps'
