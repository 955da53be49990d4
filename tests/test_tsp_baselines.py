"""Classical TSP references: valid tours, 2-opt never lengthens and ends 2-opt-optimal, quality against the
exact optimum, and the agents through the runner."""

import numpy as np
import pytest

from agents.tsp_baselines import farthest_insertion_tour, nearest_neighbour_tour, two_opt, two_opt_pass
from envs.tsp import TSPEnv, tour_length
from experiments.config import parse_config
from experiments.metrics import load_runs, metric_for
from experiments.runner import run_experiment
from experiments.store import RunStore

ENVS = [TSPEnv(n=10, instance_seed=s) for s in range(6)]


def _valid(tour, n):
    return tour[0] == 0 and sorted(tour) == list(range(n))


@pytest.mark.parametrize("build", [nearest_neighbour_tour, farthest_insertion_tour])
def test_constructions_are_valid_and_near_optimal(build):
    ratios = []
    for env in ENVS:
        tours = [build(env.dist, s) for s in range(env.n)]
        assert all(_valid(t, env.n) for t in tours)
        ratios.append(min(tour_length(env.dist, t) for t in tours) / env.optimal_length)
    assert min(ratios) >= 1 - 1e-9
    assert np.mean(ratios) < 1.1  # measured: nearest neighbour 1.04, farthest insertion 1.00


def test_two_opt_never_lengthens_and_ends_locally_optimal():
    rng = np.random.default_rng(0)
    for env in ENVS:
        start = [0, *map(int, rng.permutation(np.arange(1, env.n)))]
        tour, prev = start, tour_length(env.dist, start)
        while True:
            tour, improved = two_opt_pass(env.dist, tour)
            length = tour_length(env.dist, tour)
            assert _valid(tour, env.n) and length <= prev + 1e-9
            if not improved:
                break
            assert length < prev
            prev = length
        final = two_opt(env.dist, start)
        assert tour_length(env.dist, final) == pytest.approx(length)
        # no improving move: compare against every segment reversal
        for i in range(1, env.n - 1):
            for j in range(i + 1, env.n):
                alt = final[:i] + final[i:j + 1][::-1] + final[j + 1:]
                assert tour_length(env.dist, alt) >= length - 1e-9


def test_agents_through_the_runner(tmp_path):
    cfg = parse_config({"name": "t", "env": {"id": "expobench/TSP-10-v0"}, "horizon": 30, "seeds": [0, 1],
                        "agents": [{"name": k, "kind": f"tsp_{k}"} for k in
                                   ("nearest_neighbour", "farthest_insertion", "two_opt")],
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    spec = metric_for(cfg.env.id)
    with RunStore(tmp_path / "o", create=False) as store:
        runs = load_runs(store)
    for rs in runs.values():
        for r in rs:
            gap = spec.curve(r)
            assert len(gap) == 30 and np.all(np.diff(gap) <= 1e-9) and gap[-1] >= -1e-9
            assert all(_valid(list(a), 10) for a in r.actions)
    # 2-opt with restarts reaches within 5% of the optimum in 30 steps on this instance
    assert max(spec.curve(r)[-1] for r in runs["two_opt"]) < 5.0


def test_tsp_agent_refuses_other_envs():
    from agents.registry import make_agent
    from envs.linreg import LinearRegressionEnv

    with pytest.raises(TypeError, match="needs a TSP env"):
        make_agent("tsp_two_opt").reset(LinearRegressionEnv(), np.random.default_rng(0))
