"""Bayesmark's normalised scores of one HPO task (METHODS §4.5), per evaluation.

All values are losses (lower is better): the negated expected reward of each evaluation (the env's reward is a
CV score or a negated loss). For a run, ``S(t)`` is the cumulative minimum of the loss over its first ``t``
evaluations, the initial design included (``t = n_initial + e`` on the metrics' evaluation axis, entry ``e``).

- ``opt``: the lowest loss any run of any agent saw on the task, minus a tiny pad so ratios stay finite.
- ``R(t)``: the median of the best of ``t`` independent random-search evaluations, estimated from every
  evaluation of the task's ``random_search`` runs pooled: the best of ``t`` draws from the pooled distribution
  ``F`` is below ``x`` with probability ``1 − (1 − F(x))^t``, so its median is the ``1 − 2^(−1/t)`` quantile.
- ``NORMED_MED(t) = (median over runs of S(t) − opt) / (R(t) − opt)``, unclipped; random search scores 1 at every
  t up to sampling noise.
- ``NORMED_MEAN(t) = mean over runs of clip((S(t) − opt) / (c − opt), −1, 1)``, ``c = R(1)`` the median loss of
  a single random evaluation. For random search at t = 1 the median ratio is 1; the clipped mean is below 1 when
  the losses are spread (0.75 for uniform losses), and it falls with t.
- Across tasks: the median of NORMED_MED, the mean of NORMED_MEAN; the leaderboard figure is
  ``100 · (1 − mean NORMED_MEAN)`` at the last evaluation (0 = best found, 100 · ... higher is better).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from expobench.experiments.metrics import METRICS, RunData, best_by_evaluation

#: The random-search agent kind whose evaluations define the normalisation.
RANDOM_KIND = "random_search"


def loss_curve(run: RunData) -> np.ndarray:
    """``S`` on the evaluation axis, shape [1 + E]: entry e is the best loss after the initial design and e more
    evaluations."""
    return -best_by_evaluation(run)


def random_best_median(pooled: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``R(t)``: the median of the minimum of ``t`` independent draws from the pooled losses, for each ``t >= 1``."""
    t = np.maximum(np.asarray(t, dtype=float), 1.0)
    return np.quantile(np.asarray(pooled, dtype=float), 1.0 - 0.5 ** (1.0 / t))


@dataclass(frozen=True)
class Normaliser:
    """The task's reference values: ``opt`` (padded lowest loss) and the pooled random-search losses."""

    opt: float
    pooled: np.ndarray

    @classmethod
    def from_runs(cls, data: Mapping[str, Sequence[RunData]], kinds: Mapping[str, str]) -> Normaliser | None:
        """From every run of one task; ``None`` when the task has no random-search evaluations."""
        pooled = [np.concatenate([-r.initial, -r.evaluations()]) for a, rs in data.items()
                  if kinds.get(a) == RANDOM_KIND for r in rs]
        pooled_arr = np.concatenate(pooled) if pooled else np.zeros(0)
        pooled_arr = pooled_arr[np.isfinite(pooled_arr)]
        if not len(pooled_arr):
            return None
        every = [np.concatenate([-r.initial, -r.evaluations()]) for rs in data.values() for r in rs]
        lowest = float(np.nanmin(np.concatenate(every)))
        return cls(lowest - 1e-9 * max(1.0, abs(lowest)), pooled_arr)

    def normed_med(self, runs: Sequence[RunData], length: int) -> np.ndarray:
        """NORMED_MED on the evaluation axis, entries 0..length-1 (NaN where a run has no initial design)."""
        S, n0 = self._curves(runs, length)
        R = random_best_median(self.pooled, n0 + np.arange(length))
        return (np.median(S, axis=0) - self.opt) / (R - self.opt)

    def normed_mean(self, runs: Sequence[RunData], length: int) -> np.ndarray:
        """NORMED_MEAN on the evaluation axis, entries 0..length-1."""
        S, _ = self._curves(runs, length)
        c = float(np.median(self.pooled))
        return np.mean(np.clip((S - self.opt) / (c - self.opt), -1.0, 1.0), axis=0)

    @staticmethod
    def _curves(runs: Sequence[RunData], length: int) -> tuple[np.ndarray, int]:
        """``S`` of every run cut to ``length`` ([n_runs, length]) and the runs' (common) initial design size."""
        S = np.stack([METRICS["neg_best_score"].curve(r, length) for r in runs])
        n0 = int(np.median([len(r.initial) for r in runs]))
        return S, n0


def across_tasks(normed_med: Sequence[float], normed_mean: Sequence[float]) -> dict[str, float]:
    """Bayesmark's aggregates over tasks at one evaluation: the median NORMED_MED, the mean NORMED_MEAN, and the
    leaderboard figure ``100 · (1 − mean NORMED_MEAN)``."""
    mean = float(np.nanmean(normed_mean))
    return {"normed_med": float(np.nanmedian(normed_med)), "normed_mean": mean, "leaderboard": 100 * (1 - mean)}
