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
    # a matrix of runs x tasks: the middle of all its scores together
    assert iqm([[0, 100], [1, 101], [2, 102], [3, 103]]) == pytest.approx((2 + 3 + 100 + 101) / 4)


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
    """Task 1's runs all score 0 and task 2's all 1: resampling runs within each task keeps the mean at 1/2
    (drawing from all runs together would not)."""
    scores = np.c_[np.zeros(10), np.ones(10)]
    assert interval(lambda m: float(np.mean(m)), scores) == (0.5, 0.5, 0.5)
    point, low, high = interval(probability_of_improvement, scores + 1, scores)  # x beats y on both tasks
    assert (point, low, high) == (1.0, 1.0, 1.0)


def test_normalized_scores_are_0_at_low_and_1_at_high():
    assert normalized([-40, -5, 30], low=-40, high=-5).tolist() == [0.0, 1.0, 2.0]


def write_runs(root, task, tuned, sb3):
    """Fake recorded runs: tuned_seed<S>/run.json and sb3-contrib/seed<S>.json with these final returns."""
    for seed, score in enumerate(tuned, 1):
        (root / task / f'tuned_seed{seed}').mkdir(parents=True)
        (root / task / f'tuned_seed{seed}' / 'run.json').write_text(
            json.dumps({'settings': {'max_env_steps': 1_000_000}, 'eval': [score - 1, score + 1]}))
    (root / task / 'sb3-contrib').mkdir()
    for seed, score in enumerate(sb3, 1):
        (root / task / 'sb3-contrib' / f'seed{seed}.json').write_text(
            json.dumps({'settings': {'max_env_steps': 1_000_000}, 'eval': [score]}))


def test_the_suite_page_reads_each_runs_final_return_and_names_the_runs_missing(tmp_path, monkeypatch):
    from benchmarks import scores
    from benchmarks.suite import final_scores, task_row
    monkeypatch.setattr(scores, 'REPS', 1000)  # the intervals' bounds are not checked here
    write_runs(tmp_path, 'Swimmer-v5', tuned=[360 + k for k in range(10)], sb3=[350, 340, 355, 345, 330])
    scores = final_scores(str(tmp_path), 'Swimmer-v5')
    assert scores == {'tuned': [360.0 + k for k in range(10)], 'sb3-contrib': [350.0, 340.0, 355.0, 345.0, 330.0]}
    row = task_row('Swimmer-v5', scores)
    # tuned: median 364.5, IQM of 360..369 cut 2 at each end = 364.5; SB3: median 345, IQM of 5 (cut 1) = 345.0
    assert row.startswith('| Swimmer-v5 | 364.5 | 364.5 [') and '| 345.0 | 345.0 [' in row and row.endswith('| yes |')
    write_runs(tmp_path, 'Reacher-v5', tuned=[-6.0] * 10, sb3=[-5.0] * 5)
    assert task_row('Reacher-v5', final_scores(str(tmp_path), 'Reacher-v5')).endswith('| no (-1.0) |')
    (tmp_path / 'Swimmer-v5' / 'tuned_seed7' / 'run.json').unlink()
    (tmp_path / 'Swimmer-v5' / 'sb3-contrib' / 'seed5.json').unlink()
    with pytest.raises(UserError, match=r"no 1,000,000-step tuned run of seed\(s\) 7; train them: python "
                                        r"benchmarks/presets.py --env_name Swimmer-v5 --presets tuned --seeds 7"):
        final_scores(str(tmp_path), 'Swimmer-v5')
