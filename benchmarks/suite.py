"""The MuJoCo suite's results page: this package's `--preset tuned` beside SB3-contrib's TRPO with the RL Zoo's
values, on every task, with the statistics of benchmarks/scores.py, and the figures others have published.

    python benchmarks/suite.py              # reads results/<task>/, writes results/suite/

It trains nothing: it reads the runs benchmarks/presets.py (tuned_seed<S>/run.json) and
benchmarks/sb3_reference.py (sb3-contrib/seed<S>.json) recorded for each task at the 1M-step budget, and only
those the sweeps would reuse now: the same settings and library versions, measured with this commit's code.
A run's score is its final policy's mean deterministic return over its 10 evaluation episodes (reset seeds
10000-10009). Per task: the median, the IQM with its 95% stratified-bootstrap interval, and the range. Across
the suite, scores are normalized per task from 0 at a uniformly random policy's mean return (the same 10
episodes) to 1 at the task's goal (the best published figure, GOAL), then: the IQM of the normalized scores
of all runs, the probability that a run of this package beats an SB3-contrib run on the same task (averaged
over tasks; normalization does not change it), each with its interval, and the performance profile (the
fraction of runs above each normalized score). Writes results/suite/README.md, scores.json and profile.png.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import presets, sb3_reference  # noqa: E402
from benchmarks.scores import (REPS, interval, iqm, normalized, performance_profile,  # noqa: E402
                               probability_of_improvement)
from benchmarks.sweep import code_commit, write_text  # noqa: E402
from trpo.cli import ArgumentParser, run_main  # noqa: E402
from trpo.envs import make_env  # noqa: E402
from trpo.errors import UserError  # noqa: E402
from trpo.evaluate import EVAL_SEED, run_episodes  # noqa: E402

BUDGET = 1_000_000
EPISODES = 10
SUITE = ('Hopper-v5', 'HalfCheetah-v5', 'Walker2d-v5', 'Ant-v5', 'Swimmer-v5', 'Humanoid-v5', 'InvertedPendulum-v5',
         'InvertedDoublePendulum-v5', 'Reacher-v5')
SEEDS = {'tuned': range(1, 11), 'sb3-contrib': range(1, 6)}
LABELS = {'tuned': 'trpo --preset tuned', 'sb3-contrib': 'SB3-contrib'}

# What others published for TRPO, none of it on -v5: (mean, '± std' or '', source). 'final' is the last policy's
# return; 'best during training' the best test return seen while training, which is higher than a final one.
SOURCES = {
    'a': 'SB3-contrib docs (docs/modules/trpo.rst): v3, 1M steps, 3 seeds, final, mean ± std',
    'b': 'RL Zoo (benchmark.md): v3, one run',
    'c': 'Tianshou (examples/mujoco): v3, v2 for InvertedPendulum, InvertedDoublePendulum and Reacher, 1M steps, '
         '10 seeds, best during training, mean ± std',
    'd': 'OpenAI baselines (benchmarks_mujoco1M.htm): v1, 1M steps',
}
PUBLISHED = {
    'Hopper-v5': [(3372, '± 215', 'a')],
    'HalfCheetah-v5': [(1803, '± 46', 'a')],
    'Walker2d-v5': [(4502, '± 234', 'a'), (4933, '', 'b'), (3827, '± 783', 'c')],
    'Ant-v5': [(3554, '± 591', 'a'), (4982, '', 'b'), (2867, '± 708', 'c')],
    'Swimmer-v5': [(359, '± 2', 'a'), (366, '', 'b')],
    'Humanoid-v5': [(810, '± 126', 'c')],
    'InvertedPendulum-v5': [(1000, '', 'c'), (905, '', 'd')],
    'InvertedDoublePendulum-v5': [(8435, '± 1,073', 'c'), (6732, '', 'd')],
    'Reacher-v5': [(-5.1, '± 0.8', 'c'), (-4.8, '', 'd')],
}
# a task's goal: the highest published figure but the RL Zoo's single runs (issue 30; SB3-contrib's docs where
# they have one, and there they are the highest)
GOAL = {task: max(mean for mean, _, source in figures if source != 'b') for task, figures in PUBLISHED.items()}


def final_scores(results, task, commit):
    """{'tuned': [score per seed], 'sb3-contrib': [...]}: each run's mean evaluation return, seeds in SEEDS order,
    of the runs the sweeps would reuse at commit; a UserError names the others and how to train them."""
    folder = os.path.join(results, task)
    runs = {'tuned': [presets.reused(task, 'tuned', s, BUDGET, folder, [], EPISODES, commit) for s in SEEDS['tuned']],
            'sb3-contrib': [sb3_reference.reused(os.path.join(folder, 'sb3-contrib', f'seed{s}.json'),
                                                 sb3_reference.run_settings(task, BUDGET, EPISODES), commit)
                            for s in SEEDS['sb3-contrib']]}
    commands = {'tuned': f'benchmarks/presets.py --env_name {task} --presets tuned',
                'sb3-contrib': f'benchmarks/sb3_reference.py --env_name {task}'}
    for name, found in runs.items():
        missing = [seed for seed, run in zip(SEEDS[name], found) if run is None]
        if missing:
            out = folder if name == 'tuned' else os.path.join(folder, 'sb3-contrib')
            raise UserError(f"{folder} has no {BUDGET:,}-step {name} run of seed(s) {', '.join(map(str, missing))} "
                            f"with the settings, library versions and code of this commit; train them: python "
                            f"{commands[name]} --seeds {' '.join(map(str, missing))} --max_env_steps {BUDGET} "
                            f"--out {out}")
    return {name: [float(np.mean(run['eval'])) for run in found] for name, found in runs.items()}, \
        [{**run, 'preset': f'{task} {name}'} for name, found in runs.items() for run in found]


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
    published = '; '.join(f'{f"{mean:,g} {spread}".strip()} ({source})' for mean, spread, source in PUBLISHED[task])
    goal = max(GOAL[task], float(np.median(scores['sb3-contrib'])))
    met = 'yes' if np.median(scores['tuned']) >= goal else f'no ({np.median(scores["tuned"]) - goal:+,.1f})'
    return f'| {task} | {cells[0]} | {cells[1]} | {published} | {met} |'


def plot_profile(profiles, taus, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    for name, (profile, band) in profiles.items():
        line, = ax.plot(taus, profile, label=LABELS[name])
        ax.fill_between(taus, band[0], band[1], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("normalized score τ (0: a random policy, 1: the task's best published figure)")
    ax.set_ylabel('fraction of runs with score > τ')
    ax.set_title('Performance profile over the MuJoCo suite (band: 95% interval)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def page(tasks, scores, randoms, aggregate, measured_with):
    lines = ['# The MuJoCo suite: final returns after 1M environment steps', '',
             'Written by `python benchmarks/suite.py` from the runs in `results/<task>/`. Final return: the mean '
             f'deterministic return of the final policy over {EPISODES} evaluation episodes (reset seeds '
             '10000-10009, which training never uses). This package: `python train.py --env_name <task> --preset '
             'tuned --seed S`, seeds 1-10. SB3-contrib: its TRPO with the RL Zoo\'s values for the task '
             '(`benchmarks/sb3_reference.py`; the zoo\'s MuJoCo block for Hopper, HalfCheetah, Walker2d, Ant, '
             'Swimmer and Humanoid, which the zoo trains for 2M steps, here 1M like every task; the zoo\'s default, '
             'SB3-contrib\'s own values on one environment, for the three tasks it does not list: '
             'InvertedPendulum, InvertedDoublePendulum, Reacher), seeds 1-5. IQM: interquartile mean, with its '
             f'95% stratified-bootstrap interval (rliable, {REPS:,} resamples).', '',
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
              'highest published figure but the RL Zoo\'s single runs; if not, by how much it falls short.', '',
              '## Across the suite', '',
              'Scores normalized per task: 0 is the mean return of uniformly random actions on the same '
              f'{EPISODES} episodes, 1 the task\'s highest published figure (the goal above).', '',
              f'- IQM of normalized scores: this package {iqm_t:.3f} [{lo_t:.3f}, {hi_t:.3f}], SB3-contrib '
              f'{iqm_s:.3f} [{lo_s:.3f}, {hi_s:.3f}].',
              '- Probability of improvement, the probability that a run of this package scores more than an '
              'SB3-contrib run on the same task (ties count half), averaged over the tasks: '
              f'{poi:.3f} [{lo_p:.3f}, {hi_p:.3f}].',
              '- Performance profile: [profile.png](profile.png).', '',
              'Random policy\'s mean return per task: ' +
              ', '.join(f'{task} {randoms[task]:,.1f}' for task in tasks) + '.', '', measured_with]
    return '\n'.join(lines) + '\n'


def benchmark():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tasks', nargs='+', default=list(SUITE), choices=SUITE)
    p.add_argument('--results', default='results', help='the folder holding one folder per task')
    p.add_argument('--out', default=os.path.join('results', 'suite'))
    args = p.parse_args()
    commit = code_commit()
    scores, runs = {}, []
    for task in args.tasks:
        scores[task], found = final_scores(args.results, task, commit)
        runs += found
    randoms = {task: random_score(task) for task in args.tasks}
    matrices = {name: np.column_stack([normalized(scores[t][name], randoms[t], GOAL[t]) for t in args.tasks])
                for name in ('tuned', 'sb3-contrib')}
    aggregate = (interval(iqm, matrices['tuned']), interval(iqm, matrices['sb3-contrib']),
                 interval(probability_of_improvement, matrices['tuned'], matrices['sb3-contrib']))
    taus = np.linspace(0, 2, 101)
    os.makedirs(args.out, exist_ok=True)
    plot_profile(performance_profile(matrices, taus), taus, os.path.join(args.out, 'profile.png'))
    write_text(os.path.join(args.out, 'scores.json'),
               json.dumps({'tasks': args.tasks, 'scores': scores, 'random': randoms, 'goal': GOAL,
                           'normalized': {k: m.tolist() for k, m in matrices.items()}}, indent=1))
    text = page(args.tasks, scores, randoms, aggregate, presets.measured_with_line(runs))
    write_text(os.path.join(args.out, 'README.md'), text)
    print(text)
    print(f'written to {args.out}: README.md, scores.json, profile.png')


def main():
    run_main('suite.py', benchmark)


if __name__ == '__main__':
    main()
