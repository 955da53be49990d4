"""The optimiser plot shows each seed: two seeds certain of different candidates read as certain, not as a mean
probability of 1/2 for each candidate."""

import numpy as np

from expobench.experiments.metrics import RunData
from expobench.experiments.plots import optimizer_trajectories, settled_candidate


def _run(seed: int, tops: list[list], entropies: list[float]) -> RunData:
    records = [{"optimizer": {"top5": top, "entropy": h}} for top, h in zip(tops, entropies)]
    T = len(records)
    z = np.zeros(T)
    return RunData(f"r{seed}", "expo", seed, [0] * T, z, z, z, [0] * T, records)


def test_seeds_settled_on_different_candidates_are_each_certain():
    a = _run(0, [[[[0, 0], 0.5], [[1, 1], 0.5]], [[[1, 1], 0.99], [[0, 0], 0.01]]], [0.69, 0.06])
    b = _run(1, [[[[0, 0], 0.5], [[2, 2], 0.5]], [[[2, 2], 0.98], [[0, 0], 0.02]]], [0.69, 0.1])
    top1, ent = optimizer_trajectories([a, b], 2)
    assert top1.tolist() == [[0.5, 0.99], [0.5, 0.98]]
    assert ent.tolist() == [[0.69, 0.06], [0.69, 0.1]]
    assert settled_candidate(a, 2) == ("[1, 1]", 0.99) and settled_candidate(b, 2) == ("[2, 2]", 0.98)
    # the old view: mean over seeds of each final candidate's probability, about 1/2 although each seed is sure
    assert np.mean([0.99, 0.0]) < 0.5 < top1[:, -1].mean()


def test_steps_without_an_optimiser_record_are_gaps_and_a_run_without_any_settles_nowhere():
    r = _run(0, [[[[3, 1], 0.7]]], [0.3])
    r.records.insert(0, {})
    top1, ent = optimizer_trajectories([r], 2)
    assert np.isnan(top1[0, 0]) and top1[0, 1] == 0.7 and np.isnan(ent[0, 0])
    none = _run(1, [], [])
    none.records.extend([{}, {}])
    arm, p = settled_candidate(none, 2)
    assert arm is None and np.isnan(p)
