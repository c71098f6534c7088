"""Train several seeds of each preset on one environment; write a table and a learning-curve plot.

    python benchmarks/presets.py --env_name Pendulum-v1 --presets slides tuned \
        --seeds 1 2 3 4 5 --max_env_steps 150000 --jobs 2 --out results/Pendulum-v1

Each run is `python train.py --preset P --seed S --max_env_steps N --goal_score inf`
(so it trains to the budget), as a Ray task (benchmarks/sweep.py: --jobs runs side by side on this
machine, or --address a cluster). It trains in a folder of its own on its node and sends back its
result and files; in <out>/<preset>_seed<S> the driver writes model.pth, the TensorBoard logs,
train.log (the console output) and run.json (the result, with the node it ran on). A run whose
run.json holds the same settings and was measured with the same learning code (the package and the
lock file as they are at this commit: benchmarks/sweep.py, same_code) is reused, not trained again.
The final policy is then evaluated deterministically (the mean action) on 10 episodes.
Written into --out: results.json (every run's curve and evaluation), summary.md (the
table: steps until the 100-episode average first exceeds the goal, and the final
deterministic return, mean +- std and median over seeds, and every seed), curves.png
(log/avg100 against environment steps: mean over seeds and min-max band, one line per preset).
The runs of benchmarks/sb3_reference.py in <out>/sb3-contrib with the same budget join the table
and the plot as one more row and line. --summarize writes these from the runs in --out as they are,
whatever commit they were measured at, and trains none.
"""
import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402

import trpo  # noqa: E402
from benchmarks.sweep import add_run_flags, code_commit, node, provenance, recorded, run_all  # noqa: E402
from trpo.cli import ArgumentParser, interrupted_message, parse_train_args, run_main  # noqa: E402
from trpo.checkpoint import load_policy  # noqa: E402
from trpo.evaluate import EVAL_SEED, evaluate  # noqa: E402
from trpo.errors import Interrupted, UserError  # noqa: E402
from trpo.presets import preset_values  # noqa: E402

# options that cannot change what a run learns
NOT_SETTINGS = ('save_path', 'logdir', 'log_interval', 'threads', 'critic_process', 'run_name', 'quiet', 'eval_interval',
                'eval_episodes', 'address')
KEPT = ('model.pth', 'train.log', 'logs')  # what a run sends back of its folder (not checkpoint.pth: a sweep's run
#                                            is never continued, an interrupted one trains again from the start)


def settings(argv):
    """What train.py resolves argv to, without the options that cannot change the result."""
    return {k: v for k, v in dataclasses.asdict(parse_train_args(argv).resolved()).items() if k not in NOT_SETTINGS}


def same_settings(recorded, current):
    """recorded (a run.json's) equals current, an option added since the run counting as at its default then."""
    defaults = {f.name: f.default for f in dataclasses.fields(trpo.TrainConfig)}
    return set(recorded) <= set(current) and all(recorded.get(k, defaults.get(k)) == v for k, v in current.items())


def train_argv(env_name, preset, seed, max_env_steps, folder, extra):
    return ['--env_name', env_name, '--preset', preset, '--seed', str(seed), '--max_env_steps', str(max_env_steps),
            '--max_iter_num', str(10 ** 9), '--goal_score', 'inf', '--log_interval', '10',
            '--save_path', folder, '--logdir', os.path.join(folder, 'logs'), *extra]


def reused(env_name, preset, seed, max_env_steps, out, extra, eval_episodes, commit=None):
    """The run in out/<preset>_seed<seed>/run.json if it has the same settings (and learning code as commit, if not
    None), else None."""
    run = recorded(os.path.join(out, f'{preset}_seed{seed}', 'run.json'), commit)
    if run is None or len(run['eval']) != eval_episodes:
        return None
    same = same_settings(run['settings'], settings(train_argv(env_name, preset, seed, max_env_steps, out, extra)))
    return run if same else None


def train_and_evaluate(env_name, preset, seed, max_env_steps, extra, eval_episodes, commit):
    """A Ray task: one seed of one preset, trained in a folder of its own; returns (run, files): run =
    {'curve': [(steps, avg100)], 'eval': [returns], 'seconds': s, 'node': ..., ...}, files = {path in the
    folder: bytes} of what KEPT names."""
    with tempfile.TemporaryDirectory(prefix='trpo-sweep-') as folder:
        argv = train_argv(env_name, preset, seed, max_env_steps, folder, extra)
        with open(os.path.join(folder, 'train.log'), 'w') as log, contextlib.redirect_stdout(log):
            result = trpo.trainer.run(parse_train_args(argv))  # a script's errors name flags
        if result.stop_reason == 'interrupted':  # a stopped run is never taken for a result
            raise Interrupted(interrupted_message(result), result.signum)
        history = result.history
        actor, _ = load_policy(os.path.join(folder, 'model.pth'))
        scores = evaluate(actor, env_name, eval_episodes, seed=EVAL_SEED)  # episodes training never saw
        run = {'preset': preset, 'seed': seed, 'settings': settings(argv), 'measured_with': provenance(commit),
               'node': node(), 'curve': [(r.total_steps, r.avg100) for r in history],
               'seconds': sum(r.seconds for r in history), 'eval': scores}
        return run, read_files(folder, KEPT)


def read_files(folder, names):
    """{path relative to folder: bytes} of the files and folders (with all they hold) names lists."""
    files = {}
    for name in names:
        path = os.path.join(folder, name)
        found = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        for p in found:
            with open(p, 'rb') as f:
                files[os.path.relpath(p, folder)] = f.read()
    return files


def write_run(folder, run, files, retried):
    """A finished run into its folder, whole: its files and run.json go into folder.partial, which then takes
    the place of folder (an earlier run of the same seed, whose files would otherwise mix with these)."""
    partial, old = f'{folder}.partial', f'{folder}.old'
    for path in (partial, old):
        shutil.rmtree(path, ignore_errors=True)
    run = {**run, 'retried': retried}
    for name, data in [*files.items(), ('run.json', json.dumps(run).encode())]:
        os.makedirs(os.path.dirname(os.path.join(partial, name)), exist_ok=True)
        with open(os.path.join(partial, name), 'wb') as f:
            f.write(data)
    if os.path.exists(folder):
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)
    return run


def reference_runs(folder, max_env_steps):
    """The runs of benchmarks/sb3_reference.py in folder with the same budget, seed by seed, to show beside ours."""
    runs = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.startswith('seed') and name.endswith('.json'):
            with open(os.path.join(folder, name)) as f:
                run = json.load(f)
            if run['settings']['max_env_steps'] == max_env_steps:
                runs.append({'preset': 'sb3-contrib', **run})
    return sorted(runs, key=lambda r: r['seed'])


def steps_to(curve, goal):
    """Environment steps when the 100-episode average first exceeds goal, or None."""
    return next((steps for steps, avg in curve if avg > goal), None)


def steps_range(to_goal):
    """'median (min-max)' of steps to goal; a seed that never reached it counts as infinitely many."""
    reached = sorted(s if s is not None else math.inf for s in to_goal)
    if math.isinf(reached[0]):
        return 'not reached by any seed'
    text = ['not reached' if math.isinf(x) else f'{x:,.0f}' for x in (np.median(reached), reached[0], reached[-1])]
    return f'{text[0]} ({text[1]} to {text[2]})'


def seed_ranges(seeds):
    """'1-3, 5' for seeds 1, 2, 3 and 5."""
    spans = []
    for seed in sorted(seeds):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ', '.join(str(first) if first == last else f'{first}-{last}' for first, last in spans)


def measured_with_line(runs):
    """Which commits, library versions and CPUs the runs were measured with (each run records its own)."""
    kinds = sorted({json.dumps(r.get('measured_with'), sort_keys=True) for r in runs})
    parts = []
    for kind in map(json.loads, kinds):
        alike = [r for r in runs if r.get('measured_with') == kind]
        seeds = ('all runs' if len(kinds) == 1 else 'seeds ' + '; '.join(
            f"{preset} {seed_ranges(r['seed'] for r in alike if r['preset'] == preset)}"
            for preset in dict.fromkeys(r['preset'] for r in alike)))
        if kind is None:
            parts.append(f'an unrecorded commit and versions ({seeds})')
            continue
        versions = ', '.join(f'{k} {v}' for k, v in kind['versions'].items())
        parts.append(f"commit {kind['commit']} with Python {kind['python']}, {versions}, on {kind['cpus']} x "
                     f"{kind['cpu']} ({seeds})")
    return 'Measured at ' + '; '.join(parts) + '.'


def summarize(runs, env_name, max_env_steps, goal):
    from benchmarks.scores import interval, iqm  # here: a Ray node that only trains needs no rliable
    lines = [f'# {env_name}: {max_env_steps:,} environment steps per run', '', measured_with_line(runs), '',
             f'Steps to goal: environment steps until the 100-episode average first exceeds {goal:g}. '
             'Final: mean deterministic return of the final policy over its 10 evaluation episodes. IQM: '
             'interquartile mean of the finals over seeds, with its 95% stratified-bootstrap interval '
             '(benchmarks/scores.py).', '',
             '| preset | seeds | steps to goal, median (range) | final return, median (range) | final, IQM [95% interval] '
             '| final, mean ± std | per seed (steps to goal / final) | minutes per run |',
             '|---|---|---|---|---|---|---|---|']
    for preset in dict.fromkeys(r['preset'] for r in runs):
        rs = [r for r in runs if r['preset'] == preset]
        to_goal = [steps_to(r['curve'], goal) for r in rs]
        finals = [float(np.mean(r['eval'])) for r in rs]
        per_seed = ', '.join(f"{r['seed']}: {'-' if s is None else f'{s:,}'} / {f:.1f}"
                             for r, s, f in zip(rs, to_goal, finals))
        point, low, high = interval(iqm, np.array(finals)[:, None])
        lines.append(f"| {preset} | {len(rs)} | {steps_range(to_goal)} | {np.median(finals):.1f} "
                     f"({min(finals):.1f} to {max(finals):.1f}) | {point:.1f} [{low:.1f}, {high:.1f}] | "
                     f"{np.mean(finals):.1f} ± {np.std(finals):.1f} | {per_seed} | "
                     f"{np.mean([r['seconds'] for r in rs]) / 60:.1f} |")
    retried = [f"{r['preset']} seed {r['seed']} ({r['retried']} time{'s' if r['retried'] > 1 else ''})"
               for r in runs if r.get('retried')]
    if retried:
        lines += ['', 'Trained again from the start after their worker or node was lost: ' + ', '.join(retried) + '.']
    return '\n'.join(lines) + '\n'


def plot(runs, env_name, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for preset in dict.fromkeys(r['preset'] for r in runs):
        curves = [np.array(r['curve']) for r in runs if r['preset'] == preset]
        grid = np.linspace(max(c[0, 0] for c in curves), min(c[-1, 0] for c in curves), 200)
        ys = np.array([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])
        line, = ax.plot(grid, ys.mean(0), label=f'{preset} (mean of {len(curves)} seeds)')
        ax.fill_between(grid, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel('environment steps')
    ax.set_ylabel("log/avg100 (mean return of the last 100 episodes)")
    ax.set_title(f'TRPO on {env_name}: band = min to max over seeds')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def benchmark():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(p, 'Pendulum-v1', [1, 2, 3, 4, 5], 150_000, 'results folder (default: results/<env_name>)')
    p.add_argument('--presets', nargs='+', default=['slides', 'tuned'], choices=['slides', 'tuned'])
    p.add_argument('--goal', type=float, default=None,
                   help="score for 'steps to goal'; default: the preset's goal_score for the environment")
    p.add_argument('--summarize', action='store_true',
                   help='train nothing: write the table and plot from the run.json files in --out, whatever '
                        'commit they were measured at')
    args, extra = p.parse_known_args()  # anything else goes to train.py
    parse_train_args(extra, prog='presets.py')  # a flag train.py does not know stops here, once
    out = args.out or os.path.join('results', args.env_name)
    os.makedirs(out, exist_ok=True)
    goal = args.goal if args.goal is not None else preset_values('slides', args.env_name)['goal_score']
    jobs = [(args.env_name, preset, seed, args.max_env_steps, extra, args.eval_episodes)
            for preset in args.presets for seed in args.seeds]
    commit = None if args.summarize else code_commit()
    runs = [reused(env, preset, seed, steps, out, extra, episodes, commit) for env, preset, seed, steps, extra, episodes
            in jobs]
    todo = [k for k, run in enumerate(runs) if run is None]
    if args.summarize and todo:
        missing = ', '.join(f'{jobs[k][1]} seed {jobs[k][2]}' for k in todo)
        raise UserError(f"--summarize: {out} holds no run.json with these settings for {missing}; train them "
                        "without --summarize")

    def keep(i, result, retried):
        k = todo[i]
        runs[k] = write_run(os.path.join(out, f'{jobs[k][1]}_seed{jobs[k][2]}'), *result, retried)

    if todo:
        run_all(train_and_evaluate, [(*jobs[k], commit) for k in todo], keep, args.jobs, args.address,
                reused=len(jobs) - len(todo))
    with open(os.path.join(out, 'results.json'), 'w') as f:
        json.dump({'env_name': args.env_name, 'max_env_steps': args.max_env_steps, 'goal': goal,
                   'extra_flags': extra, 'runs': runs}, f)
    runs += reference_runs(os.path.join(out, 'sb3-contrib'), args.max_env_steps)
    summary = summarize(runs, args.env_name, args.max_env_steps, goal)
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write(summary)
    plot(runs, args.env_name, os.path.join(out, 'curves.png'))
    print(summary)
    print(f'written to {out}: results.json, summary.md, curves.png')


def main():
    run_main('presets.py', benchmark)


if __name__ == '__main__':
    main()
