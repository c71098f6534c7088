"""benchmarks/scores.py, the statistics of the results pages, against hand computations and known bootstrap cases;
benchmarks/suite.py, the page, on recorded runs."""
import json

import numpy as np
import pytest
from rliable import metrics

from benchmarks.scores import interval, iqm, normalized, probability_of_improvement
from trpo.errors import UserError


def test_the_iqm_is_the_mean_of_the_middle_half_by_hand():
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx((3 + 4 + 5 + 6) / 4)
    # 10 scores: k = floor(10/4) = 2 cut at each end, 1 1 | 2 3 3 4 5 5 | 6 9
    assert iqm([3, 1, 4, 1, 5, 9, 2, 6, 5, 3]) == pytest.approx((2 + 3 + 3 + 4 + 5 + 5) / 6)
    # a matrix of runs x tasks: the middle of all 8 scores together, 0 1 | 2 10 11 12 | 50 1000 (the mean of the
    # tasks' IQMs would be 6.5, the mean 135.75, the median 10.5)
    assert iqm([[0, 10], [1, 11], [2, 12], [50, 1000]]) == pytest.approx((2 + 10 + 11 + 12) / 4)


def test_the_probability_of_improvement_counts_pairs_and_half_ties_by_hand():
    assert probability_of_improvement([[1], [3], [5]], [[2], [4]]) == pytest.approx(3 / 6)  # 3>2, 5>2, 5>4
    assert probability_of_improvement([[2], [3]], [[2], [1]]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    # two tasks: 1 on the first, 0 on the second, averaged
    assert probability_of_improvement([[5, 0], [6, 0]], [[1, 9]]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    x, y = np.round(rng.random((10, 7)), 1), np.round(rng.random((5, 7)), 1)  # rounded: ties happen
    assert probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))


def test_the_bootstrap_interval_of_a_mean_of_coin_flips_is_the_binomial_quantiles():
    """50 ones and 50 zeros: a resample's mean is Binomial(100, 1/2) / 100, whose 2.5% and 97.5% quantiles are
    40 and 60 (P(B <= 39) = 0.018 < 0.025 <= P(B <= 40) = 0.028; P(B <= 59) = 0.972 < 0.975 <= P(B <= 60))."""
    flips = np.r_[np.ones(50), np.zeros(50)][:, None]
    assert interval(lambda m: float(np.mean(m)), flips) == pytest.approx((0.5, 0.40, 0.60))


def test_the_bootstrap_is_stratified_by_task():
    """Two tasks with the same 50 ones and 50 zeros, in the same rows. Resampling runs within each task draws the
    200 scores' mean as Binomial(200, 1/2) / 200: 95% within [0.43, 0.57]. Resampling whole rows (runs of both
    tasks together) would draw it as Binomial(100, 1/2) / 100: [0.40, 0.60]."""
    flips = np.r_[np.ones(50), np.zeros(50)]
    assert interval(lambda m: float(np.mean(m)), np.c_[flips, flips]) == pytest.approx((0.5, 0.43, 0.57))


def test_the_probability_of_improvement_resamples_each_side_with_its_own_runs():
    """x: 10 runs of 1; y: 5 runs, 2 of 0 and 3 of 2. P(x > y) = the share of y's runs below 1, resampled from 5
    runs: Binomial(5, 0.4) / 5, whose 2.5% and 97.5% quantiles are 0 and 4/5."""
    assert interval(probability_of_improvement, np.ones((10, 1)), [[0], [0], [2], [2], [2]]) == \
        pytest.approx((0.4, 0.0, 0.8))


def test_an_interval_is_the_same_at_every_call_and_leaves_numpys_generator_alone():
    x = np.arange(10.0)[:, None]
    np.random.seed(1)
    first, after = interval(iqm, x), np.random.random()
    np.random.seed(2)
    assert interval(iqm, x) == first
    np.random.seed(1)
    assert np.random.random() == after


def test_normalized_scores_are_0_at_low_and_1_at_high():
    assert normalized([-40, -5, 30], low=-40, high=-5).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match='high'):
        normalized([1.0], low=5, high=5)


COMMIT = 'abc1234'


def write_package_run(folder, task, seed, returns, extra=()):
    """One run as benchmarks/presets.py --out writes it (at COMMIT, with this machine's library versions):
    folder/run.json, trained with extra flags beyond --preset tuned, with these evaluation returns."""
    from benchmarks.presets import settings, train_argv
    from benchmarks.sweep import provenance
    folder.mkdir(parents=True)
    run = {'seed': seed, 'settings': settings(train_argv(task, 'tuned', seed, 1_000_000, str(folder), list(extra))),
           'eval': returns, 'measured_with': provenance(COMMIT)}
    (folder / 'run.json').write_text(json.dumps(run))


def write_runs(root, task, tuned, sb3, extra=()):
    """Recorded runs as the sweeps write them, with these final returns: tuned_seed<S>/run.json (trained with
    extra flags) and sb3-contrib/seed<S>.json."""
    from benchmarks.sb3_reference import run_settings
    from benchmarks.sweep import provenance
    measured_with = provenance(COMMIT)
    for seed, score in enumerate(tuned, 1):
        write_package_run(root / task / f'tuned_seed{seed}', task, seed, [score - 1] * 5 + [score + 1] * 5, extra)
    (root / task / 'sb3-contrib').mkdir()
    for seed, score in enumerate(sb3, 1):
        run = {'seed': seed, 'settings': run_settings(task, 1_000_000, 10), 'eval': [score] * 10,
               'measured_with': measured_with}
        (root / task / 'sb3-contrib' / f'seed{seed}.json').write_text(json.dumps(run))


def test_the_suite_page_reads_each_runs_final_return_and_names_the_runs_missing(tmp_path, monkeypatch):
    from benchmarks import scores as statistics
    from benchmarks.suite import GOAL, final_scores, task_row
    monkeypatch.setattr(statistics, 'REPS', 1000)  # the intervals' bounds are not checked here
    write_runs(tmp_path, 'Swimmer-v5', tuned=[360 + k for k in range(10)], sb3=[350, 340, 355, 345, 330])
    scores, runs = final_scores(str(tmp_path), 'Swimmer-v5', COMMIT)
    assert scores == {'tuned': [360.0 + k for k in range(10)], 'sb3-contrib': [350.0, 340.0, 355.0, 345.0, 330.0]}
    assert [(r['preset'], r['seed']) for r in runs][9:11] == [('Swimmer-v5 tuned', 10), ('Swimmer-v5 sb3-contrib', 1)]
    row = task_row('Swimmer-v5', scores)
    # tuned: median 364.5, IQM of 360..369 cut 2 at each end = 364.5; SB3: median 345, IQM of 5 (cut 1) = 345.0
    assert row.startswith('| Swimmer-v5 | 364.5 | 364.5 [') and '| 345.0 | 345.0 [' in row and row.endswith('| yes |')
    assert GOAL['Swimmer-v5'] == 359 and GOAL['Reacher-v5'] == -4.8  # the highest published, the zoo's runs aside
    write_runs(tmp_path, 'Reacher-v5', tuned=[-6.0] * 10, sb3=[-5.0] * 5)
    assert task_row('Reacher-v5', final_scores(str(tmp_path), 'Reacher-v5', COMMIT)[0]).endswith('| no (-1.2) |')
    (tmp_path / 'Swimmer-v5' / 'tuned_seed7' / 'run.json').unlink()
    with pytest.raises(UserError, match=r"no 1,000,000-step tuned run of seed\(s\) 7 .*; train them: python "
                                        r"benchmarks/presets.py --env_name Swimmer-v5 --presets tuned --seeds 7"):
        final_scores(str(tmp_path), 'Swimmer-v5', COMMIT)
    write_runs(tmp_path / 'other', 'Swimmer-v5', tuned=[0.0] * 10, sb3=[0.0] * 5, extra=['--gamma', '0.99'])
    with pytest.raises(UserError, match=r"seed\(s\) 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 "):  # trained with other flags
        final_scores(str(tmp_path / 'other'), 'Swimmer-v5', COMMIT)


def write_tuning_runs(root, task, setting, finals, extra=()):
    """Tuning runs as benchmarks/presets.py --out root/task/setting writes them, seeds 100 and up."""
    for seed, score in enumerate(finals, 100):
        write_package_run(root / task / setting / f'tuned_seed{seed}', task, seed, [score] * 10, extra)


def test_the_tuning_table_gives_each_setting_its_flags_beyond_the_preset_and_its_median_first_the_best(tmp_path):
    from benchmarks.tuning import table
    write_tuning_runs(tmp_path, 'Reacher-v5', 'mujoco', [4000.0, 4200.0, 4100.0])
    write_tuning_runs(tmp_path, 'Reacher-v5', 'wider', [4600.0, 4400.0, 4500.0], ['--max_kl', '0.08', '--ortho_init'])
    lines = [line for line in table(str(tmp_path)).splitlines() if line.startswith('| Reacher-v5')]
    assert lines == [
        f'| Reacher-v5 | `--max_kl 0.08 --ortho_init` | 100, 101, 102 | 4500.0 (4400.0 to 4600.0) | '
        f'100: 4600.0, 101: 4400.0, 102: 4500.0 | {COMMIT} |',
        f'| Reacher-v5 | the preset | 100, 101, 102 | 4100.0 (4000.0 to 4200.0) | '
        f'100: 4000.0, 101: 4200.0, 102: 4100.0 | {COMMIT} |']


def test_the_tuning_table_refuses_a_folder_that_mixes_settings(tmp_path):
    from benchmarks.tuning import table
    write_tuning_runs(tmp_path, 'Walker2d-v5', 'mixed', [4000.0])
    write_tuning_runs(tmp_path / 'other', 'Walker2d-v5', 'mixed', [4000.0], ['--gamma', '0.99'])
    (tmp_path / 'other' / 'Walker2d-v5' / 'mixed' / 'tuned_seed100').rename(
        tmp_path / 'Walker2d-v5' / 'mixed' / 'tuned_seed101')
    with pytest.raises(UserError, match=r'mixed holds runs of different settings \(`--gamma 0.99` \| the preset\)'):
        table(str(tmp_path))


def test_the_measured_with_line_gives_each_provenance_its_presets_seed_ranges():
    from benchmarks.presets import measured_with_line
    from benchmarks.sweep import provenance
    old, new = provenance('0123abc'), provenance(COMMIT)
    runs = [{'preset': preset, 'seed': seed, 'measured_with': kind}
            for preset, seeds, kind in [('tuned', [1, 2, 3, 5], new), ('tuned', [4], old), ('sb3', [1, 2], new)]
            for seed in seeds]
    line = measured_with_line(runs)
    assert line.count('(seeds ') == 2 and '(seeds tuned 1-3, 5; sb3 1-2).' in line and '(seeds tuned 4)' in line
    assert '(all runs).' in measured_with_line(runs[:4])
