"""Where the Hopper target comes from: SB3-contrib's TRPO with the RL Zoo's tuned Hopper values,
trained and evaluated the way benchmarks/presets.py trains and evaluates this package.

    pip install sb3-contrib   # only this script needs it, so it is not in requirements.txt
    python benchmarks/sb3_reference.py --seeds 1 2 3 4 --jobs 2 --out results/Hopper-v5/sb3-contrib

Each seed trains TRPO('MlpPolicy') for --max_env_steps steps with the values of the zoo's
hyperparams/trpo.yml for Hopper (observations and rewards normalized by VecNormalize,
2 environments x 1024 steps per update, ...; target_kl is SB3's default 0.01), on one torch
thread. The final policy, its observations normalized with the statistics training ended with,
then plays 10 deterministic episodes from reset seeds 10000-10009 through
trpo.evaluate.run_episodes, the function that evaluates this package's runs.
Writes <out>/seed<S>.json (the 100-episode average after each update, the evaluation returns,
the training seconds) and <out>/summary.md. A seed whose json holds the same settings is not
trained again.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from jobs import add_run_flags, run_all  # noqa: E402
from trpo.cli import ArgumentParser, run_main  # noqa: E402
from trpo.envs import make_env  # noqa: E402
from trpo.errors import UserError  # noqa: E402
from trpo.evaluate import run_episodes  # noqa: E402

# rl-baselines3-zoo, hyperparams/trpo.yml, Hopper-v4 (its MuJoCo defaults), with normalize: true and n_envs: 2
ZOO_HOPPER = dict(n_steps=1024, batch_size=128, gamma=0.99, gae_lambda=0.95, sub_sampling_factor=1,
                  cg_max_steps=25, cg_damping=0.1, n_critic_updates=20, learning_rate=1e-3)
N_ENVS = 2


def train_and_evaluate(env_name, seed, max_env_steps, out, eval_episodes):
    """One seed: {'seed', 'settings', 'curve': [(steps, avg100)], 'eval': [returns], 'seconds'}."""
    from sb3_contrib import TRPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

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

    path = os.path.join(out, f'seed{seed}.json')
    settings = {'env_name': env_name, 'max_env_steps': max_env_steps, 'eval_episodes': eval_episodes, **ZOO_HOPPER}
    if os.path.exists(path):
        with open(path) as f:
            run = json.load(f)
        if run['settings'] == settings:
            return run
    torch.set_num_threads(1)
    envs = VecNormalize(make_vec_env(env_name, n_envs=N_ENVS, seed=seed), gamma=ZOO_HOPPER['gamma'])
    model = TRPO('MlpPolicy', envs, seed=seed, **ZOO_HOPPER)
    curve = Curve()
    start = time.perf_counter()
    model.learn(max_env_steps, callback=curve)
    seconds = time.perf_counter() - start
    envs.training = False

    def policy(state):  # run_episodes' actor interface: (mean action, std); only the mean is used
        action, _ = model.predict(envs.normalize_obs(state.numpy()), deterministic=True)
        return torch.as_tensor(action), None

    env = make_env(env_name)
    scores = run_episodes(env, policy, eval_episodes, seed=10_000)
    env.close()
    run = {'seed': seed, 'settings': settings, 'curve': curve.points, 'eval': scores, 'seconds': seconds}
    with open(path, 'w') as f:
        json.dump(run, f)
    return run


def summarize(runs, env_name, max_env_steps):
    finals = [float(np.mean(r['eval'])) for r in runs]
    per_seed = ', '.join(f"{r['seed']}: {f:.1f}" for r, f in zip(runs, finals))
    return '\n'.join([
        f'# SB3-contrib TRPO, RL Zoo Hopper values, {env_name}: {max_env_steps:,} environment steps per run', '',
        '| seeds | final return, median | mean ± std | per seed | minutes per run |', '|---|---|---|---|---|',
        f"| {len(runs)} | {statistics.median(finals):.1f} | {np.mean(finals):.1f} ± {np.std(finals):.1f} | "
        f"{per_seed} | {np.mean([r['seconds'] for r in runs]) / 60:.1f} |"]) + '\n'


def benchmark():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(p, 'Hopper-v5', [1, 2, 3, 4], 1_000_000, 'results folder (default: results/<env_name>/sb3-contrib)')
    args = p.parse_args()
    if importlib.util.find_spec('sb3_contrib') is None:
        raise UserError('sb3-contrib is not installed; this script needs it: pip install sb3-contrib')
    out = args.out or os.path.join('results', args.env_name, 'sb3-contrib')
    os.makedirs(out, exist_ok=True)
    jobs = [(args.env_name, seed, args.max_env_steps, out, args.eval_episodes) for seed in args.seeds]
    runs = run_all(train_and_evaluate, jobs, args.jobs)
    summary = summarize(runs, args.env_name, args.max_env_steps)
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write(summary)
    print(summary)
    print(f'written to {out}: seed<S>.json, summary.md')


def main():
    run_main('sb3_reference.py', benchmark)


if __name__ == '__main__':
    main()
