"""Step 2 beside the sampling, here or in a worker process: update_critic's numbers, whatever happens to the worker."""
import copy
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import trpo
from trpo.cli import parse_train_args
from trpo.critic_fit import CriticFitter, critic_seed, make_critic_optimizer
from trpo.checkpoint import load_checkpoint
from trpo.errors import UserError
from trpo.model import Critic, RunningNorm
from trpo.trainer import use_critic_process
from trpo.utils import update_critic
from test_scripts import ROOT

pytestmark = pytest.mark.integration


def twin_critics(hidden=256, state_size=11):
    torch.manual_seed(0)
    a, b = Critic(state_size, hidden), Critic(state_size, hidden)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize('use_process', [False, True])
def test_the_fitter_runs_update_critic_on_the_critic_as_it_was_sampled_with(use_process):
    """Five epochs of minibatches of 64 (80 Adam steps) on a 256-unit critic with running statistics: through the
    fitter (here, or in its worker) the critic ends bit for bit where update_critic called on it directly ends,
    with the minibatches drawn from the fitter's generator, even though the statistics move on before it runs."""
    a, b = twin_critics()
    norm = RunningNorm(11)
    norm.update(3 * torch.randn(500, 11) + 1)
    a.obs_norm, b.obs_norm = copy.deepcopy(norm), norm
    initial = [p.clone() for p in a.parameters()]
    x, y = torch.randn(1000, 11), torch.randn(1000)
    update_critic(a, make_critic_optimizer(a, 3e-4), x, y, 5, 64, torch.Generator().manual_seed(critic_seed(3)))
    fitter = CriticFitter(seed=3, use_process=use_process)
    try:
        fitter.submit(b, make_critic_optimizer(b, 3e-4), x, y, 5, 64)
        norm.update(torch.randn(100, 11))  # the batch joins the statistics before the fit is done
        rng = torch.get_rng_state()
        fitter.wait()
    finally:
        fitter.close()
    assert torch.equal(torch.get_rng_state(), rng)  # the fit drew none of torch's random numbers (the action noise)
    for p, q, p0 in zip(a.parameters(), b.parameters(), initial):
        assert torch.equal(p, q)
        assert (p - p0).abs().max() > 1e-5  # 80 Adam steps moved every parameter


def fitted(use_process, jobs=3, kill=None, epochs=4):
    """A critic after `jobs` fits; kill(fitter, k) may end the worker before or after starting fit k."""
    critic, _ = twin_critics(hidden=64)
    optimizer = make_critic_optimizer(critic, 1e-3)
    warnings = []
    fitter = CriticFitter(seed=7, use_process=use_process, warn=warnings.append)
    try:
        for k in range(jobs):
            torch.manual_seed(k)
            states, targets = torch.randn(500, 11), torch.randn(500)
            if kill:
                kill(fitter, k, 'before')
            fitter.submit(critic, optimizer, states, targets, epochs=epochs, batch_size=64)
            if kill:
                kill(fitter, k, 'after')
        fitter.wait()
    finally:
        fitter.close()
    fitter.warnings = warnings
    return critic, optimizer, fitter


def end_worker(fitter, when):
    """SIGKILL the fitter's worker; when 'idle', only once it has finished what it was given."""
    if when == 'idle':
        fitter.future.result()
    for pid in list(fitter.executor._processes):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):  # until the pool has seen it die (ProcessPoolExecutor's private flag)
        if fitter.executor._broken:
            break
        time.sleep(0.05)
    assert fitter.executor._broken


def assert_same_fit(a, b):
    (here, here_opt, here_fitter), (there, there_opt, there_fitter) = a, b
    assert all(torch.equal(p, q) for p, q in zip(here.parameters(), there.parameters()))
    for s, t in zip(here_opt.state_dict()['state'].values(), there_opt.state_dict()['state'].values()):
        assert all(torch.equal(s[k], t[k]) for k in s)
    assert torch.equal(here_fitter.generator.get_state(), there_fitter.generator.get_state())


def test_a_fit_in_the_worker_process_is_the_fit_in_this_one_bit_for_bit():
    here, there = fitted(use_process=False), fitted(use_process=True)
    assert_same_fit(here, there)
    assert there[2].worker_seconds > 0 and here[2].worker_seconds == 0


@pytest.mark.parametrize('when', ['idle', 'fitting'])
def test_a_worker_that_dies_idle_or_fitting_costs_a_warning_and_nothing_else(when):
    """Killed after fit 1 finished (the next fit cannot start there) or while fit 1 runs (its result never comes):
    either way the fit is done here from the same state, and the critic ends as if nothing happened."""
    def kill(fitter, k, moment):
        if k == 1 and moment == ('after' if when == 'fitting' else 'before'):
            end_worker(fitter, 'idle' if when == 'idle' else 'now')

    here, there = fitted(use_process=False, epochs=40), fitted(use_process=True, kill=kill, epochs=40)
    assert_same_fit(here, there)
    assert len(there[2].warnings) == 1 and "the critic's worker process ended" in there[2].warnings[0]
    assert there[2].executor is None  # the later fits ran here


@pytest.mark.parametrize('use_process', [False, True])
def test_a_pending_fit_runs_at_the_learning_rate_it_started_with(use_process):
    """A checkpoint's pending fit is done at its own rate, as --critic_process off did it before the checkpoint;
    a resume's new --critic_lr applies from the next fit on."""
    x, y = torch.randn(100, 11), torch.randn(100)
    pending = dict(inputs=x, targets=y, epochs=3, batch_size=0, generator=torch.Generator().get_state(), lr=1e-3)
    critics = []
    for lr_now in (1e-3, 5e-4):  # the checkpoint's rate, and a resume with --critic_lr 5e-4
        critic, _ = twin_critics(hidden=16)
        optimizer = make_critic_optimizer(critic, lr_now)
        fitter = CriticFitter(seed=0, use_process=use_process)
        fitter.restore({'generator': torch.Generator().get_state(), 'pending': pending}, critic, optimizer)
        fitter.wait()
        fitter.close()
        assert optimizer.param_groups[0]['lr'] == lr_now
        critics.append(critic)
    assert all(torch.equal(p, q) for p, q in zip(critics[0].parameters(), critics[1].parameters()))
    direct, _ = twin_critics(hidden=16)  # the fit was done: 3 steps of update_critic at 1e-3
    initial = [p.clone() for p in direct.parameters()]
    update_critic(direct, make_critic_optimizer(direct, 1e-3), x, y, 3, 0)
    assert all(torch.equal(p, q) and not torch.equal(p, p0)
               for p, q, p0 in zip(direct.parameters(), critics[0].parameters(), initial))


def test_critic_process_auto_stays_off_where_processes_cannot_start_children(monkeypatch):
    config = parse_train_args(['--preset', 'tuned']).resolved()
    monkeypatch.setattr(multiprocessing.current_process(), 'daemon', True, raising=False)
    assert not use_critic_process(config)
    with pytest.raises(UserError, match='daemonic'):
        use_critic_process(config.replace(critic_process='on'))


def tuned_pendulum(tmp_path, name, *flags):
    return ['--preset', 'tuned', '--max_iter_num', '6', '--goal_score', 'inf', '--save_path', str(tmp_path / name),
            '--logdir', str(tmp_path / name / 'logs'), *flags]


def summary(history):
    return [(r.total_steps, r.avg100, r.update.kl, r.update.critic_loss, r.update.explained_variance) for r in history]


def test_training_with_the_critic_in_a_worker_is_training_without_it(tmp_path):
    """Tuned Pendulum, 6 iterations (20 epochs of minibatches of 64 each): the same run, number for number."""
    off = trpo.train(parse_train_args(tuned_pendulum(tmp_path, 'off', '--critic_process', 'off'))).history
    on = trpo.train(parse_train_args(tuned_pendulum(tmp_path, 'on', '--critic_process', 'on'))).history
    assert summary(on) == summary(off)
    assert len({r.update.critic_loss for r in on}) == 6  # the critic did change between iterations
    checkpoint = load_checkpoint(str(tmp_path / 'on' / 'checkpoint.pth'))
    assert checkpoint['critic_fit']['pending'] is not None  # the last fit was under way when it was written


def test_a_resume_with_a_fit_under_way_continues_bit_for_bit(tmp_path):
    straight = trpo.train(parse_train_args(tuned_pendulum(tmp_path, 'a', '--critic_process', 'on'))).history
    first = trpo.train(parse_train_args(tuned_pendulum(tmp_path, 'b', '--critic_process', 'on',
                                                       '--max_iter_num', '3'))).history
    path = str(tmp_path / 'b' / 'checkpoint.pth')
    assert load_checkpoint(path)['critic_fit']['pending'] is not None
    resumed = trpo.train(parse_train_args(['--load_model', path, '--max_iter_num', '6'])).history
    assert summary(first + resumed) == summary(straight)


def test_a_killed_worker_costs_a_warning_and_nothing_else(tmp_path, capsys):
    """SIGKILL to the worker after iteration 2: the fit under way is done again here, and the run is the same."""
    straight = trpo.train(parse_train_args(tuned_pendulum(tmp_path, 'a', '--critic_process', 'off'))).history
    killed = []

    def kill_the_worker(record):
        if record.iteration == 2:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)

    history = trpo.train(parse_train_args(tuned_pendulum(tmp_path, 'b', '--critic_process', 'on')),
                         callbacks=[kill_the_worker]).history
    assert killed
    assert summary(history) == summary(straight)
    err = capsys.readouterr().err
    assert "warning: the critic's worker process ended" in err and 'fitting in this process from now on' in err


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_the_worker_ends_with_a_trainer_killed_by_sigkill(tmp_path):
    proc = subprocess.Popen([sys.executable, 'train.py', *tuned_pendulum(tmp_path, 'a', '--critic_process', 'on',
                                                                         '--max_iter_num', '100000')],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until the first checkpoint: the worker has started
            if (tmp_path / 'a' / 'checkpoint.pth').exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        workers = children(proc.pid)
        assert len(workers) == 1
        proc.kill()
        proc.wait()
        for _ in range(50):
            if not os.path.exists(f'/proc/{workers[0]}'):
                break
            time.sleep(0.1)
        assert not os.path.exists(f'/proc/{workers[0]}')
    finally:
        proc.kill()


def children(pid):
    with open(f'/proc/{pid}/task/{pid}/children') as f:
        return [int(p) for p in f.read().split()]


def test_the_minibatch_generator_does_not_replay_torchs_global_stream():
    """Seeded with --seed itself, the critic's shuffles would reuse the random numbers of the action noise."""
    fitter = CriticFitter(seed=500)
    torch.manual_seed(500)
    assert not torch.equal(torch.randperm(1000, generator=fitter.generator), torch.randperm(1000))
    assert torch.equal(CriticFitter(seed=500).generator.get_state(), CriticFitter(seed=500).generator.get_state())
