"""One path: what python train.py runs for each step is the slides' function, called as often as its step needs.

Each slide function is wrapped, in every trpo module that holds it, by a counter that appends a line
'<pid> <name>' to a file; a process forked from this one (the critic's worker) inherits the counters, and
Ray's rollout workers install them themselves (CountingWorker), so each process reports what it ran.
"""
import collections
import os
import sys

import pytest

import trpo
import trpo.ray_sampler
from trpo.checkpoint import load_checkpoint
from trpo.cluster import connect

SLIDE_FUNCTIONS = ('get_action', 'get_returns', 'get_gae', 'update_critic', 'surrogate_loss', 'get_log_prob',
                   'flat_grad', 'conjugate_gradient', 'hessian_vector_product', 'kl_divergence',
                   'backtracking_line_search', 'flat_params', 'update_model')
SAMPLING = ('env_action',)  # once per vector step: what get_action is counted against


def install_counters(path, names):
    """Wrap each trpo.utils function of names (and trpo.envs.env_action) in every loaded trpo module that holds it."""
    import trpo.envs
    import trpo.utils

    def log(name):
        with open(path, 'a') as f:
            f.write(f'{os.getpid()} {name}\n')

    def counting(name, fn):
        def counted(*args, **kwargs):
            log(name)
            if name == 'conjugate_gradient':  # its first argument, A v, once per CG iteration
                Avp = args[0]
                args = (lambda v: log('cg_iteration') or Avp(v),) + args[1:]
            return fn(*args, **kwargs)
        counted.original = fn
        return counted

    modules = [m for key, m in sys.modules.items() if key == 'trpo' or key.startswith('trpo.')]
    for name in names:
        original = getattr(trpo.envs if name == 'env_action' else trpo.utils, name)
        wrapper = counting(name, original)
        for module in modules:
            if getattr(module, name, None) is original:
                setattr(module, name, wrapper)


def remove_counters(names):
    for module in [m for key, m in sys.modules.items() if key == 'trpo' or key.startswith('trpo.')]:
        for name in names:
            fn = getattr(module, name, None)
            if hasattr(fn, 'original'):
                setattr(module, name, fn.original)


def counting_worker(path):
    """A RolloutWorker that counts what it runs in its own process. Ray ships it, and this module's functions it
    calls, by value: the workers cannot import the tests."""
    import ray
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    class CountingWorker(trpo.ray_sampler.RolloutWorker):
        def __init__(self, *args):
            install_counters(path, ('get_action', 'env_action'))
            super().__init__(*args)
    return CountingWorker


def calls(path):
    """{pid: Counter(name -> calls)} from the counters' file."""
    seen = collections.defaultdict(collections.Counter)
    with open(path) as f:
        for line in f:
            pid, name = line.split()
            seen[int(pid)][name] += 1
    return seen


@pytest.fixture
def counters(tmp_path):
    path = str(tmp_path / 'calls.txt')
    open(path, 'w').close()
    install_counters(path, SLIDE_FUNCTIONS + SAMPLING)
    yield path
    remove_counters(SLIDE_FUNCTIONS + SAMPLING)


RUNS = {  # name: TrainConfig options (2 iterations each)
    'gaussian-slides': dict(),
    'gaussian-tuned-critic-in-worker': dict(preset='tuned', critic_process='on'),
    'gaussian-tuned-critic-here': dict(preset='tuned', critic_process='off'),
    'categorical-slides': dict(env_name='CartPole-v1', total_sample_size=512),
    'categorical-tuned-critic-in-worker': dict(env_name='CartPole-v1', preset='tuned', critic_process='on',
                                               total_sample_size=512),
    'gaussian-tuned-ray': dict(preset='tuned', sampler='ray', num_workers=2),
    'categorical-slides-ray': dict(env_name='CartPole-v1', total_sample_size=512, sampler='ray', num_workers=2),
}


@pytest.mark.parametrize('name', [pytest.param(name, marks=pytest.mark.ray if 'ray' in name else pytest.mark.integration)
                                  for name in RUNS])
def test_every_slide_function_runs_as_often_as_its_step_needs(name, counters, tmp_path, monkeypatch):
    options = RUNS[name]
    if options.get('sampler') == 'ray':
        monkeypatch.setattr(trpo.ray_sampler, 'RolloutWorker', counting_worker(counters))
        ray = connect(num_cpus=2)  # a Ray of this test's own, stopped at its end
        ray.__enter__()
    try:
        result = trpo.train(trpo.TrainConfig(max_iter_num=2, goal_score=float('inf'), save_path=str(tmp_path / 'm'),
                                             logdir=str(tmp_path / 'l'), quiet=True, **options))
    finally:
        if options.get('sampler') == 'ray':
            ray.__exit__(None, None, None)
    seen = calls(counters)
    here = seen.pop(os.getpid())
    config, updates = result.config, [record.update for record in result.history]

    # learning process 1: get_action once per environment step, in the process that steps the environments
    samplers = list(seen.values()) if config.sampler == 'ray' else [here]
    for process in samplers:
        assert process['get_action'] == process['env_action'] > 0
    if config.sampler == 'ray':
        assert here['get_action'] == 0 and len(samplers) >= 2  # two workers (a restarted one would be a third)
    if config.env_name == 'Pendulum-v1':  # every episode lasts 200 steps, and every environment runs one per batch
        assert [p['get_action'] for p in samplers] == [2 * 200] * len(samplers)

    # step 1: the slides' returns, or GAE
    assert (here['get_returns'], here['get_gae']) == ((2, 0) if config.gae_lambda == 'off' else (0, 2))
    # step 2: update_critic, here or in the worker; the last batch's fit may still be pending when the run ends
    fits = {pid: process['update_critic'] for pid, process in seen.items() if process['update_critic']}
    pending = load_checkpoint(result.paths['checkpoint'])['critic_fit']['pending'] is not None
    if config.critic_process == 'on':
        assert here['update_critic'] == 0 and len(fits) == 1 and 1 <= sum(fits.values()) <= 2
    else:
        assert not fits and here['update_critic'] == 2 - pending
    # steps 3-6, once per update; the line search tries fractions until one is accepted, or all 10
    tries = sum(u.backtracks + 1 if u.accepted else 10 for u in updates)
    assert here['conjugate_gradient'] == here['backtracking_line_search'] == here['flat_params'] == 2
    assert 2 <= here['cg_iteration'] <= 2 * config.cg_iters  # at most cg_iters each; fewer once r^T r < 1e-10
    assert here['hessian_vector_product'] == here['cg_iteration'] + 2  # every CG iteration, and step 5
    assert here['flat_grad'] == 2 * 2 + here['hessian_vector_product']  # g, the Fisher graph's J^T u, each H p
    assert here['surrogate_loss'] == 2 + tries and here['kl_divergence'] == tries
    assert here['get_log_prob'] == 2 + here['surrogate_loss']  # pi_old, then each surrogate
    assert here['update_model'] == tries + sum(not u.accepted for u in updates)  # a rejected search restores


def test_no_class_in_the_package_is_an_environment():
    """Environments come from Gymnasium: the package re-implements none (no subclass of its Env or VectorEnv)."""
    import importlib
    import inspect
    import pkgutil

    import gymnasium as gym
    modules = [importlib.import_module(f'trpo.{m.name}') for m in pkgutil.iter_modules(trpo.__path__)]
    assert len(modules) >= 15
    envs = [f'{module.__name__}.{name}' for module in modules for name, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__.startswith('trpo') and issubclass(cls, (gym.Env, gym.vector.VectorEnv, gym.Wrapper))]
    assert envs == []
