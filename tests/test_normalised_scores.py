"""Bayesmark's normalised scores (METHODS §4.5) on synthetic runs whose losses are known."""

from __future__ import annotations

import numpy as np
import pytest

from expobench.experiments.metrics import RunData
from expobench.experiments.normalised import Normaliser, across_tasks, random_best_median


def _run(agent: str, seed: int, losses: np.ndarray, n_initial: int = 0) -> RunData:
    """A run whose evaluations have the given losses (rewards are negated losses); the first ``n_initial`` are
    its initial design."""
    r = -np.asarray(losses, dtype=float)
    init, steps = r[:n_initial], r[n_initial:]
    return RunData(f"{agent}{seed}", agent, seed, [0] * len(steps), steps, steps, np.zeros(len(steps)),
                   [None] * len(steps), [{}] * len(steps), init, len(steps))


def _random_runs(rng: np.random.Generator, n_runs: int, n_evals: int, n_initial: int) -> list[RunData]:
    return [_run("rs", s, rng.uniform(0.2, 1.0, n_evals), n_initial) for s in range(n_runs)]


def test_random_search_scores_one_at_every_evaluation_on_normed_med():
    rng = np.random.default_rng(0)
    runs = _random_runs(rng, 401, 40, 5)
    norm = Normaliser.from_runs({"rs": runs}, {"rs": "random_search"})
    med = norm.normed_med(runs, 36)
    assert med.shape == (36,)
    assert np.all(np.abs(med - 1) < 0.15), med  # sampling noise of a median over 401 runs
    assert abs(np.mean(med) - 1) < 0.05
    mean = norm.normed_mean(runs, 36)
    # NORMED_MEAN is 1 only for a single random evaluation; with the 5 initial ones it is already below
    assert mean[0] < 0.6 and np.all(np.diff(mean) <= 1e-12)


def test_normed_mean_of_a_single_random_evaluation_is_the_clipped_mean_ratio():
    # losses ~ U[0.2, 1]: opt = 0.2, c = 0.6, so the ratio of one evaluation is U[0, 2] and its clipped mean 0.75;
    # the median ratio is 1 (c is the median), the clipped mean is not
    rng = np.random.default_rng(1)
    runs = _random_runs(rng, 4001, 1, 1)
    norm = Normaliser.from_runs({"rs": runs}, {"rs": "random_search"})
    assert norm.normed_mean(runs, 1)[0] == pytest.approx(0.75, abs=0.02)
    assert norm.normed_med(runs, 1)[0] == pytest.approx(1.0, abs=0.05)


def test_an_agent_that_finds_the_best_loss_scores_zero_and_a_bad_one_above_one():
    rng = np.random.default_rng(2)
    rs = _random_runs(rng, 51, 10, 5)
    best = [_run("gp", s, np.r_[rng.uniform(0.2, 1.0, 5), 0.1, 0.1, 0.1, 0.1, 0.1], 5) for s in range(5)]
    bad = [_run("bad", s, np.r_[rng.uniform(0.2, 1.0, 5), np.full(5, 0.99)], 5) for s in range(5)]
    norm = Normaliser.from_runs({"rs": rs, "gp": best, "bad": bad},
                                {"rs": "random_search", "gp": "gp_ei", "bad": "sobol"})
    assert norm.opt == pytest.approx(0.1, abs=1e-8)
    assert norm.normed_med(best, 6)[1:] == pytest.approx(0.0, abs=1e-6)
    assert norm.normed_mean(best, 6)[-1] == pytest.approx(0.0, abs=1e-6)
    assert norm.normed_med(bad, 6)[-1] > 1.0


def test_no_random_search_no_normaliser():
    rng = np.random.default_rng(3)
    assert Normaliser.from_runs({"gp": _random_runs(rng, 3, 5, 0)}, {"gp": "gp_ei"}) is None


def test_random_best_median_is_the_median_of_the_minimum_of_t_draws():
    rng = np.random.default_rng(4)
    pooled = rng.uniform(0, 1, 200_000)
    t = np.array([1, 2, 5, 20])
    direct = np.median(np.minimum.accumulate(rng.choice(pooled, size=(20_000, 20)), axis=1), axis=0)[t - 1]
    assert random_best_median(pooled, t) == pytest.approx(direct, rel=0.03)


def test_across_tasks_takes_the_median_of_med_and_the_mean_of_mean():
    agg = across_tasks([0.2, 0.5, 3.0], [0.1, 0.2, 0.6])
    assert agg["normed_med"] == pytest.approx(0.5) and agg["normed_mean"] == pytest.approx(0.3)
    assert agg["leaderboard"] == pytest.approx(70.0)
