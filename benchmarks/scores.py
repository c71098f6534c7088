"""The statistics of final scores that the field now reports (Agarwal et al., "Deep Reinforcement Learning at
the Edge of the Statistical Precipice", NeurIPS 2021), computed with their library, rliable.

A score matrix has one row per run (seed) and one column per task. Intervals are 95% percentile intervals of
the stratified bootstrap: each resample draws the runs again within each task, so every task keeps its
number of runs.
"""
import contextlib

import numpy as np
from rliable import library as rly
from rliable import metrics

REPS = 20_000  # bootstrap resamples per interval
PROFILE_REPS = 2_000  # per point of a performance profile
CONFIDENCE = 0.95


@contextlib.contextmanager
def seeded(seed):
    """rliable 1.2 draws its resamples from NumPy's global generator (np.random.choice), whatever random_state
    it is given: seed that generator for the block and put its state back after, so an interval is the same
    at every call."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm(scores):
    """Interquartile mean: the mean of the middle of all the runs' scores (rliable's 25% trimmed mean over runs
    and tasks): for n scores sorted x_(1) <= ... <= x_(n) and k = floor(n/4), IQM = mean(x_(k+1), ..., x_(n-k))."""
    return float(metrics.aggregate_iqm(np.asarray(scores, dtype=float)))


def probability_of_improvement(x, y):
    """P(X > Y): the probability that a run of X scores more than a run of Y on the same task, ties counting
    half, averaged over the M tasks: (1/M) sum_m (1/(N_x N_y)) sum_{i,j} ([x_im > y_jm] + 0.5 [x_im = y_jm]).
    rliable's metrics.probability_of_improvement, as one array operation (it runs a Mann-Whitney test per
    task, which takes minutes over a bootstrap's resamples)."""
    x, y = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def interval(statistic, *matrices, seed=0):
    """(point, low, high): statistic(*matrices) and its 95% stratified-bootstrap interval (percentile method,
    REPS resamples, the same at every call). With two matrices (probability_of_improvement) each is resampled on
    its own, with its own number of runs."""
    matrices = [np.asarray(m, dtype=float) for m in matrices]
    scores = matrices[0] if len(matrices) == 1 else matrices
    with seeded(seed):
        point, bounds = rly.get_interval_estimates({'x': scores}, lambda *m: np.array([statistic(*m)]), reps=REPS,
                                                   confidence_interval_size=CONFIDENCE)
    return float(point['x'][0]), float(bounds['x'][0, 0]), float(bounds['x'][1, 0])


def normalized(scores, low, high):
    """(scores - low) / (high - low): 0 at low, 1 at high (high > low)."""
    if not high > low:
        raise ValueError(f'normalized: high ({high}) must exceed low ({low})')
    return (np.asarray(scores, dtype=float) - low) / (high - low)


def performance_profile(score_matrices, taus, seed=0):
    """{name: (fraction of all runs, over tasks, scoring above each tau; its 95% interval, 2 x len(taus))}."""
    with seeded(seed):
        profiles, intervals = rly.create_performance_profile(
            {name: np.asarray(m, dtype=float) for name, m in score_matrices.items()}, np.asarray(taus),
            reps=PROFILE_REPS, confidence_interval_size=CONFIDENCE)
    return {name: (profiles[name], intervals[name]) for name in profiles}
