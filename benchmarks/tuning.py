"""Every setting tried on the tuning seeds, as one table (docs/presets.md links it).

    python benchmarks/presets.py --env_name Walker2d-v5 --presets tuned --seeds 100 101 102 \\
        --max_env_steps 1000000 --jobs 1 --max_kl 0.08 --out results/tuning/Walker2d-v5/max_kl0.08
    python benchmarks/tuning.py   # writes results/tuning/README.md

results/tuning/<env>/<setting>/ holds the runs of one setting. Each row gives the flags its runs had beyond
`--preset tuned` as the preset is now (so `python train.py --preset tuned --env_name <env> --seed S <flags>`
repeats a run), the seeds, the final deterministic return (median and range over the seeds) and the commits
the runs were measured at.
"""
import argparse
import glob
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.presets import settings, train_argv  # noqa: E402
from benchmarks.sweep import write_text  # noqa: E402
from trpo.cli import ArgumentParser, run_main  # noqa: E402
from trpo.errors import UserError  # noqa: E402

INTRO = """# Tuning runs

The runs each per-task value of `--preset tuned` was chosen from, on the tuning seeds (100 and up), which
the published results (seeds 1–10) never use; written by `python benchmarks/tuning.py`. A row's flags are
what its runs had beyond `--preset tuned` as it is now ("the preset" when none), so
`python train.py --preset tuned --env_name <task> --seed S <flags>` repeats a run. Final: the mean
deterministic return of the final policy over 10 episodes (reset seeds 10000–10009); median (range) over the
seeds. Every run is 1M environment steps.

| task | flags beyond `--preset tuned` | seeds | final, median (range) | per seed | measured at |
|---|---|---|---|---|---|
"""


def flag(name, value):
    """The train.py flag that sets name to value."""
    if isinstance(value, bool):
        return f'--{name}' if value else f'--no-{name}'
    return f'--{name} {"inf" if value == float("inf") else value}'


def differences(run):
    """The flags of run (a run.json) that differ from what `--preset tuned` gives its task today, as text."""
    s = run['settings']
    today = settings(train_argv(s['env_name'], 'tuned', s['seed'], s['max_env_steps'], 'unused', []))
    return ' '.join(flag(k, v) for k, v in sorted(s.items()) if today.get(k) != v)


def rows(root):
    """(task, flags, seeds, finals, commits) per setting folder under root, in task order, best median first."""
    found = []
    for folder in sorted(glob.glob(os.path.join(root, '*', '*'))):
        runs = []
        for path in sorted(glob.glob(os.path.join(folder, '*_seed*', 'run.json'))):
            with open(path) as f:
                runs.append(json.load(f))
        if not runs:
            continue
        flags = {differences(run) for run in runs}
        if len(flags) > 1:
            raise UserError(f'{folder} holds runs of different settings ({" | ".join(sorted(map(label, flags)))}): '
                            f'move them into a folder per setting')
        runs.sort(key=lambda run: run['seed'])
        finals = [statistics.mean(run['eval']) for run in runs]
        commits = sorted({run['measured_with']['commit'] for run in runs})
        found.append((os.path.basename(os.path.dirname(folder)), flags.pop(), [run['seed'] for run in runs],
                      finals, commits))
    return sorted(found, key=lambda row: (row[0], -statistics.median(row[3])))


def label(flags):
    return f'`{flags}`' if flags else 'the preset'


def table(root):
    lines = []
    for task, flags, seeds, finals, commits in rows(root):
        per_seed = ', '.join(f'{s}: {v:.1f}' for s, v in zip(seeds, finals))
        lines.append(f'| {task} | {label(flags)} | {", ".join(map(str, seeds))} | '
                     f'{statistics.median(finals):.1f} ({min(finals):.1f} to {max(finals):.1f}) | {per_seed} | '
                     f'{", ".join(commits)} |')
    return INTRO + '\n'.join(lines) + '\n'


def write_table():
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', default=os.path.join(ROOT, 'results', 'tuning'), help='the tuning results folder')
    args = p.parse_args()
    if not os.path.isdir(args.root):
        raise UserError(f'--root {args.root} is not a folder: give the folder the tuning runs are in')
    write_text(os.path.join(args.root, 'README.md'), table(args.root))
    print(f'written: {os.path.join(args.root, "README.md")}')


def main():
    run_main('tuning.py', write_table)


if __name__ == '__main__':
    main()
