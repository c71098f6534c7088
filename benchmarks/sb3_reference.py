"""The reference the targets come from: SB3-contrib's TRPO with the RL Zoo's tuned values,
trained and evaluated the way benchmarks/presets.py trains and evaluates this package.

    # the published runs' versions; only benchmarks need them
    pip install sb3-contrib==2.9.2 stable-baselines3==2.9.2
    python benchmarks/sb3_reference.py --env_name Hopper-v5 --seeds 1 2 3 4 --jobs 2
    python benchmarks/sb3_reference.py --env_name CartPole-v1 --seeds 1 2 3 4 5 --max_env_steps 100000

Each seed trains TRPO('MlpPolicy') for --max_env_steps steps with the values of the zoo's
hyperparams/trpo.yml for the environment (ZOO below: the -v5 tasks take the zoo's MuJoCo values where it
lists the task, its default where not; the zoo's number of environments; observations and rewards
normalized by VecNormalize where the zoo says normalize; target_kl is SB3's default 0.01 but for
HalfCheetah's 0.04, in SB3's units: a KL averaged over the action dimensions), on one torch thread. The final policy, its observations
normalized with the statistics training ended with, then plays 10 deterministic episodes from
reset seeds 10000-10009 through trpo.evaluate.run_episodes, the function that evaluates this
package's runs. Writes <out>/seed<S>.json (the 100-episode average after each update, the
evaluation returns, the training seconds) and <out>/summary.md (default out:
results/<env_name>/sb3-contrib, where benchmarks/presets.py finds the runs and puts them beside its
own). Each seed is a Ray task (benchmarks/sweep.py: --jobs side by side on this machine, or --address a
cluster); a seed whose json holds the same settings and library versions is not trained again, whatever
commit of this package it was measured at, as long as the environments and the evaluation
(trpo/envs.py, trpo/evaluate.py) are the same.
"""
import argparse
import importlib.util
import json
import os
import sys
import time
from typing import NamedTuple

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.presets import summarize  # noqa: E402
from benchmarks.sweep import (EVALUATION_CODE, add_run_flags, code_commit, node, provenance, recorded,  # noqa: E402
                              run_all, write_text)
from trpo.cli import ArgumentParser, run_main  # noqa: E402
from trpo.envs import make_env  # noqa: E402
from trpo.errors import UserError  # noqa: E402
from trpo.evaluate import run_episodes  # noqa: E402
from trpo.presets import preset_values  # noqa: E402

PRESET = 'sb3-contrib'  # the label of these runs in tables and plots

# rl-baselines3-zoo, hyperparams/trpo.yml: the TRPO arguments per environment, with the zoo's n_envs (the zoo's
# default 1 where it has none) and VecNormalize where it says normalize: true. Its MuJoCo block (mujoco-defaults,
# written for v4) gives the -v5 tasks it lists; InvertedPendulum, InvertedDoublePendulum and Reacher have no entry
# there, so they take its `default`: SB3-contrib's own defaults, one environment, no normalization.
MUJOCO = dict(n_envs=2, normalize=True, n_steps=1024, batch_size=128, gamma=0.99, gae_lambda=0.95,
              sub_sampling_factor=1, cg_max_steps=25, cg_damping=0.1, n_critic_updates=20, learning_rate=1e-3)
DEFAULT = dict(n_envs=1, normalize=False)
ZOO = {
    'Hopper-v5': MUJOCO,
    'HalfCheetah-v5': dict(MUJOCO, target_kl=0.04),
    'Walker2d-v5': MUJOCO,
    'Ant-v5': MUJOCO,
    'Humanoid-v5': MUJOCO,  # the zoo trains it for 2M steps; the suite's budget is 1M for every task
    'Swimmer-v5': dict(MUJOCO, gamma=0.9999),
    'InvertedPendulum-v5': DEFAULT,
    'InvertedDoublePendulum-v5': DEFAULT,
    'Reacher-v5': DEFAULT,
    'CartPole-v1': dict(n_envs=2, normalize=False, n_steps=512, batch_size=512, cg_damping=1e-3, gae_lambda=0.98,
                        gamma=0.99, learning_rate=1e-3, n_critic_updates=20),
    'Acrobot-v1': dict(n_envs=2, normalize=True, n_steps=1024),
    'LunarLander-v3': dict(n_envs=2, normalize=False, n_steps=512, cg_damping=0.01, gae_lambda=0.98, gamma=0.99,
                           learning_rate=1e-3, n_critic_updates=15),
}


class Action(NamedTuple):
    """What run_episodes asks of a policy: mode(), the deterministic action."""
    action: torch.Tensor

    def mode(self):
        return self.action


def make_model(env_name, seed):
    """TRPO('MlpPolicy') with the zoo's values for env_name, on its n_envs environments (normalized where the
    zoo says so), on one torch thread."""
    from sb3_contrib import TRPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    kwargs = {k: v for k, v in ZOO[env_name].items() if k not in ('n_envs', 'normalize')}
    envs = make_vec_env(env_name, n_envs=ZOO[env_name]['n_envs'], seed=seed)
    if ZOO[env_name]['normalize']:
        envs = VecNormalize(envs, gamma=kwargs.get('gamma', 0.99))
    return TRPO('MlpPolicy', envs, seed=seed, **kwargs)


def run_settings(env_name, max_env_steps, eval_episodes):
    return {'env_name': env_name, 'max_env_steps': max_env_steps, 'eval_episodes': eval_episodes, **ZOO[env_name]}


def reused(path, settings, commit):
    """The run in path (seed<S>.json) if it has these settings and was measured with this machine's library
    versions and the same environments and evaluation of this package (EVALUATION_CODE, as at commit), else None:
    the rest of this package does not enter these runs."""
    run = recorded(path, commit, EVALUATION_CODE)
    return {'preset': PRESET, **run} if run is not None and run['settings'] == settings else None


def train_and_evaluate(env_name, seed, max_env_steps, eval_episodes, commit):
    """A Ray task, one seed: {'preset', 'seed', 'settings', 'curve': [(steps, avg100)], 'eval': [returns],
    'seconds', 'measured_with', 'node'}, as benchmarks/presets.py records its runs."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Curve(BaseCallback):
        """After each rollout: (environment steps, mean return of the last 100 episodes)."""
        def __init__(self):
            super().__init__()
            self.points = []

        def _on_step(self):
            return True

        def _on_rollout_end(self):
            episodes = [info['r'] for info in self.model.ep_info_buffer]
            if episodes:
                self.points.append((self.num_timesteps, float(np.mean(episodes))))

    measured_with = provenance(commit)
    model = make_model(env_name, seed)
    envs = model.get_env()
    curve = Curve()
    start = time.perf_counter()
    model.learn(max_env_steps, callback=curve)
    seconds = time.perf_counter() - start
    envs.training = False
    normalize = envs.normalize_obs if ZOO[env_name]['normalize'] else (lambda x: x)

    def policy(state):  # run_episodes' actor interface
        action, _ = model.predict(normalize(state.numpy()), deterministic=True)
        return Action(torch.as_tensor(action))

    env = make_env(env_name)
    scores = run_episodes(env, policy, eval_episodes, seed=10_000)
    env.close()
    return {'preset': PRESET, 'seed': seed, 'settings': run_settings(env_name, max_env_steps, eval_episodes),
            'curve': curve.points, 'eval': scores, 'seconds': seconds, 'measured_with': measured_with, 'node': node()}


def benchmark():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(p, 'Hopper-v5', [1, 2, 3, 4], 1_000_000, 'results folder (default: results/<env_name>/sb3-contrib)')
    p.add_argument('--goal', type=float, default=None,
                   help="score for 'steps to goal'; default: the slides preset's goal_score for the environment")
    args = p.parse_args()
    if importlib.util.find_spec('sb3_contrib') is None:
        raise UserError('sb3-contrib is not installed; this script needs it: pip install sb3-contrib')
    if args.env_name not in ZOO:
        raise UserError(f"no RL Zoo values for '{args.env_name}' here; choose one of {', '.join(ZOO)}")
    out = args.out or os.path.join('results', args.env_name, 'sb3-contrib')
    os.makedirs(out, exist_ok=True)
    commit = code_commit()
    settings = run_settings(args.env_name, args.max_env_steps, args.eval_episodes)
    paths = [os.path.join(out, f'seed{seed}.json') for seed in args.seeds]
    runs = [reused(path, settings, commit) for path in paths]
    todo = [k for k, run in enumerate(runs) if run is None]

    def keep(i, run, retried):
        k = todo[i]
        runs[k] = {**run, 'retried': retried}
        write_text(paths[k], json.dumps(runs[k]))

    if todo:
        run_all(train_and_evaluate, [(args.env_name, args.seeds[k], args.max_env_steps, args.eval_episodes, commit)
                                     for k in todo], keep, args.jobs, args.address, reused=len(runs) - len(todo))
    goal = args.goal if args.goal is not None else preset_values('slides', args.env_name)['goal_score']
    summary = summarize(runs, args.env_name, args.max_env_steps, goal)
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write(summary)
    print(summary)
    print(f'written to {out}: seed<S>.json, summary.md')


def main():
    run_main('sb3_reference.py', benchmark)


if __name__ == '__main__':
    main()
