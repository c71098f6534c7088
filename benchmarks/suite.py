"""The MuJoCo suite's results page: this package's `--preset tuned` beside SB3-contrib's TRPO with the RL Zoo's
values, on every task, with the statistics of benchmarks/scores.py, and the figures others have published.

    python benchmarks/suite.py              # reads results/<task>/, writes results/suite/

It trains nothing: it reads the runs benchmarks/presets.py (tuned_seed<S>/run.json) and
benchmarks/sb3_reference.py (sb3-contrib/seed<S>.json) recorded for each task at the 1M-step budget. A run's
score is its final policy's mean deterministic return over its 10 evaluation episodes (reset seeds
10000-10009). Per task: the median, the IQM with its 95% stratified-bootstrap interval, and the range. Across
the suite, scores are normalized per task from 0 at a uniformly random policy's mean return (the same 10
episodes) to 1 at SB3-contrib's median, then: the IQM of the normalized scores of all runs, the probability
that a run of this package beats an SB3-contrib run on the same task (averaged over tasks; normalization
does not change it), each with its interval, and the performance profile (the fraction of runs above each
normalized score). Writes results/suite/README.md, scores.json and profile.png.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.scores import interval, iqm, normalized, performance_profile, probability_of_improvement  # noqa: E402
from trpo.cli import ArgumentParser, run_main  # noqa: E402
from trpo.envs import make_env  # noqa: E402
from trpo.errors import UserError  # noqa: E402
from trpo.evaluate import EVAL_SEED, run_episodes  # noqa: E402

BUDGET = 1_000_000
SUITE = ('Hopper-v5', 'HalfCheetah-v5', 'Walker2d-v5', 'Ant-v5', 'Swimmer-v5', 'Humanoid-v5', 'InvertedPendulum-v5',
         'InvertedDoublePendulum-v5', 'Reacher-v5')
SEEDS = {'tuned': range(1, 11), 'sb3-contrib': range(1, 6)}

# What others published for TRPO, none of it on -v5: (figure, source). 'final' is the last policy's return; 'best
# during training' the best test return seen while training, which is higher than a final one.
SOURCES = {
    'a': 'SB3-contrib docs (docs/modules/trpo.rst): v3, 1M steps, 3 seeds, final, mean ± std',
    'b': 'RL Zoo (benchmark.md): v3, one run',
    'c': 'Tianshou (examples/mujoco): v3, v2 for InvertedPendulum, InvertedDoublePendulum and Reacher, 1M steps, '
         '10 seeds, best during training, mean ± std',
    'd': 'OpenAI baselines (benchmarks_mujoco1M.htm): v1, 1M steps',
}
PUBLISHED = {
    'Hopper-v5': [('3,372 ± 215', 'a')],
    'HalfCheetah-v5': [('1,803 ± 46', 'a')],
    'Walker2d-v5': [('4,502 ± 234', 'a'), ('4,933', 'b'), ('3,827 ± 783', 'c')],
    'Ant-v5': [('3,554 ± 591', 'a'), ('4,982', 'b'), ('2,867 ± 708', 'c')],
    'Swimmer-v5': [('359 ± 2', 'a'), ('366', 'b')],
    'Humanoid-v5': [('810 ± 126', 'c')],
    'InvertedPendulum-v5': [('1,000', 'c'), ('905', 'd')],
    'InvertedDoublePendulum-v5': [('8,435 ± 1,073', 'c'), ('6,732', 'd')],
    'Reacher-v5': [('-5.1 ± 0.8', 'c'), ('-4.8', 'd')],
}
# the goal of issue 30: the best published multi-seed final figure (SB3-contrib's docs where they have one,
# else the best multi-seed figure, Tianshou's best-during-training included)
GOAL = {'Hopper-v5': 3372, 'HalfCheetah-v5': 1803, 'Walker2d-v5': 4502, 'Ant-v5': 3554, 'Swimmer-v5': 359,
        'Humanoid-v5': 810, 'InvertedPendulum-v5': 1000, 'InvertedDoublePendulum-v5': 8435, 'Reacher-v5': -5.1}


def final_scores(results, task):
    """{'tuned': [score per seed], 'sb3-contrib': [...]}: each run's mean evaluation return, seeds in SEEDS order;
    a UserError names the runs missing."""
    paths = {'tuned': os.path.join(results, task, 'tuned_seed{}', 'run.json'),
             'sb3-contrib': os.path.join(results, task, 'sb3-contrib', 'seed{}.json')}
    scores = {}
    for name, pattern in paths.items():
        runs = {}
        for seed in SEEDS[name]:
            if os.path.exists(pattern.format(seed)):
                with open(pattern.format(seed)) as f:
                    run = json.load(f)
                if run['settings']['max_env_steps'] == BUDGET:
                    runs[seed] = float(np.mean(run['eval']))
        missing = [s for s in SEEDS[name] if s not in runs]
        if missing:
            command = (f'benchmarks/presets.py --env_name {task} --presets tuned' if name == 'tuned' else
                       f'benchmarks/sb3_reference.py --env_name {task}')
            raise UserError(f"{os.path.join(results, task)} has no {BUDGET:,}-step {name} run of seed(s) "
                            f"{', '.join(map(str, missing))}; train them: python {command} --seeds "
                            f"{' '.join(map(str, missing))} --max_env_steps {BUDGET}")
        scores[name] = [runs[s] for s in SEEDS[name]]
    return scores


def random_score(task, episodes=10):
    """Mean return of uniformly random actions over the evaluation episodes (reset seeds 10000-10009)."""
    env = make_env(task)
    env.action_space.seed(EVAL_SEED)

    class Random:
        def mode(self):
            return torch.as_tensor(env.action_space.sample())[None]

    try:
        return float(np.mean(run_episodes(env, lambda state: Random(), episodes)))
    finally:
        env.close()


def task_row(task, scores):
    """The page's line for one task."""
    cells = []
    for name in ('tuned', 'sb3-contrib'):
        x = np.array(scores[name])
        point, low, high = interval(iqm, x[:, None])
        cells.append(f'{np.median(x):,.1f} | {point:,.1f} [{low:,.1f}, {high:,.1f}] | {x.min():,.1f} to {x.max():,.1f}')
    published = '; '.join(f'{figure} ({source})' for figure, source in PUBLISHED[task])
    goal = max(GOAL[task], float(np.median(scores['sb3-contrib'])))
    met = 'yes' if np.median(scores['tuned']) >= goal else f'no ({np.median(scores["tuned"]) - goal:+,.1f})'
    return f'| {task} | {cells[0]} | {cells[1]} | {published} | {met} |'


def plot_profile(profiles, taus, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    for name, (profile, band) in profiles.items():
        line, = ax.plot(taus, profile, label=name)
        ax.fill_between(taus, band[0], band[1], color=line.get_color(), alpha=0.2)
    ax.set_xlabel('normalized score τ (0: random policy, 1: SB3-contrib median)')
    ax.set_ylabel('fraction of runs with score > τ')
    ax.set_title('Performance profile over the MuJoCo suite (band: 95% interval)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def page(tasks, scores, randoms, aggregate):
    lines = ['# The MuJoCo suite: final returns after 1M environment steps', '',
             'Written by `python benchmarks/suite.py` from the runs in `results/<task>/`; every run records its '
             'commit, library versions and CPU in its own file. Final return: the mean deterministic return of '
             'the final policy over 10 evaluation episodes (reset seeds 10000-10009). This package: '
             '`python train.py --env_name <task> --preset tuned --seed S`, seeds 1-10. SB3-contrib: TRPO with the '
             "RL Zoo's values for the task (`benchmarks/sb3_reference.py`), seeds 1-5. IQM: interquartile mean, "
             'with its 95% stratified-bootstrap interval (rliable, 20,000 resamples).', '',
             "The two trust regions are in different units: SB3-contrib's `target_kl` bounds the KL averaged over "
             "the action dimensions, this package's `max_kl` the KL summed over them, so SB3-contrib's 0.01 is "
             "0.01 x action dimensions here "
             "([docs/presets.md](../../docs/presets.md#trust-regions-in-two-libraries-units)).", '',
             '| task | trpo: median | IQM [95% interval] | range | SB3-contrib: median | IQM [95% interval] | '
             'range | published | goal met |', '|---|---|---|---|---|---|---|---|---|']
    lines += [task_row(task, scores[task]) for task in tasks]
    (iqm_t, lo_t, hi_t), (iqm_s, lo_s, hi_s), (poi, lo_p, hi_p) = aggregate
    lines += ['', 'Published: ' + '; '.join(f'({key}) {text}' for key, text in SOURCES.items()) + '.', '',
              'Goal met: the median of this package is at least both SB3-contrib\'s side-by-side median and the '
              'best published multi-seed figure (SB3-contrib\'s docs where they have one, else Tianshou\'s '
              'best during training); if not, by how much it falls short.', '',
              '## Across the suite', '',
              'Scores normalized per task: 0 is the mean return of uniformly random actions on the same 10 '
              'episodes, 1 is SB3-contrib\'s median on that task.', '',
              f'- IQM of normalized scores: this package {iqm_t:.3f} [{lo_t:.3f}, {hi_t:.3f}], SB3-contrib '
              f'{iqm_s:.3f} [{lo_s:.3f}, {hi_s:.3f}].',
              f'- Probability that a run of this package scores more than an SB3-contrib run on the same task: '
              f'{poi:.3f} [{lo_p:.3f}, {hi_p:.3f}].',
              '- Performance profile: [profile.png](profile.png).', '',
              'Random policy\'s mean return per task: ' +
              ', '.join(f'{task} {randoms[task]:,.1f}' for task in tasks) + '.']
    return '\n'.join(lines) + '\n'


def benchmark():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tasks', nargs='+', default=list(SUITE), choices=SUITE)
    p.add_argument('--results', default='results', help='the folder holding one folder per task')
    p.add_argument('--out', default=os.path.join('results', 'suite'))
    args = p.parse_args()
    scores = {task: final_scores(args.results, task) for task in args.tasks}
    randoms = {task: random_score(task) for task in args.tasks}
    matrices = {name: np.column_stack([normalized(scores[t][name], randoms[t], np.median(scores[t]['sb3-contrib']))
                                       for t in args.tasks]) for name in ('tuned', 'sb3-contrib')}
    aggregate = (interval(iqm, matrices['tuned']), interval(iqm, matrices['sb3-contrib']),
                 interval(probability_of_improvement, matrices['tuned'], matrices['sb3-contrib']))
    taus = np.linspace(0, max(2.0, float(np.max(np.concatenate([m.ravel() for m in matrices.values()])))), 101)
    os.makedirs(args.out, exist_ok=True)
    plot_profile(performance_profile(matrices, taus), taus, os.path.join(args.out, 'profile.png'))
    with open(os.path.join(args.out, 'scores.json'), 'w') as f:
        json.dump({'scores': scores, 'random': randoms, 'normalized': {k: m.tolist() for k, m in matrices.items()},
                   'tasks': args.tasks}, f, indent=1)
    text = page(args.tasks, scores, randoms, aggregate)
    with open(os.path.join(args.out, 'README.md'), 'w') as f:
        f.write(text)
    print(text)
    print(f'written to {args.out}: README.md, scores.json, profile.png')


def main():
    run_main('suite.py', benchmark)


if __name__ == '__main__':
    main()
