"""Classical TSP references: valid tours, 2-opt never lengthens and ends 2-opt-optimal, quality against the exact
(Held-Karp) optimum, seeded reproducibility, and the agents through the runner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import expobench.agents.tsp_baselines  # noqa: F401  (registers the tsp_* kinds)
import expobench.envs  # noqa: F401  (registers the expobench/... ids)
from expobench.agents.registry import make_agent
from expobench.agents.tsp_baselines import (
    farthest_insertion_tour,
    nearest_neighbour_tour,
    two_opt,
    two_opt_deltas,
    two_opt_pass,
)
from expobench.envs.tsp import TSPEnv, tour_length
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import load_runs, metric_for
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore

ENVS = [TSPEnv(n=10, instance_seed=s) for s in range(6)]


def _valid(tour: list[int], n: int) -> bool:
    return isinstance(tour, list) and all(type(v) is int for v in tour) and tour[0] == 0 \
        and sorted(tour) == list(range(n))


def _random_tour(rng: np.random.Generator, n: int) -> list[int]:
    return [0, *map(int, rng.permutation(np.arange(1, n)))]


def _no_improving_reversal(dist: np.ndarray, tour: list[int]) -> bool:
    """Brute force: no reversal of any segment tour[i..j] shortens the closed tour."""
    length = tour_length(dist, tour)
    n = len(tour)
    return all(tour_length(dist, tour[:i] + tour[i:j + 1][::-1] + tour[j + 1:]) >= length - 1e-9
               for i in range(n) for j in range(i + 1, n))


@pytest.mark.parametrize("build, bound", [(nearest_neighbour_tour, 1.25), (farthest_insertion_tour, 1.10)])
def test_constructions_are_valid_and_near_optimal(build, bound):
    ratios = []
    for env in ENVS:
        tours = [build(env.dist, s) for s in range(env.n)]
        assert all(_valid(t, env.n) for t in tours)
        lengths = [tour_length(env.dist, t) for t in tours]
        assert min(lengths) >= env.optimal_length - 1e-9  # nothing beats Held-Karp
        ratios.append(lengths[0] / env.optimal_length)
    # measured from node 0 on these instances: nearest neighbour 1.12, farthest insertion 1.01 (random tours ~2.5)
    assert np.mean(ratios) < bound


def test_farthest_insertion_small_n():
    for n in (3, 4):
        env = TSPEnv(n=n, instance_seed=1)
        assert _valid(farthest_insertion_tour(env.dist, n - 1), n)
        assert _valid(nearest_neighbour_tour(env.dist, n - 1), n)


def test_two_opt_deltas_match_the_tour_lengths():
    env = ENVS[0]
    tour = _random_tour(np.random.default_rng(3), env.n)
    delta = two_opt_deltas(env.dist, tour)
    base = tour_length(env.dist, tour)
    for i in range(env.n):
        for j in range(env.n):
            if j >= i + 2 and (i, j) != (0, env.n - 1):
                alt = tour[:i + 1] + tour[i + 1:j + 1][::-1] + tour[j + 1:]
                assert delta[i, j] == pytest.approx(tour_length(env.dist, alt) - base)
            else:
                assert delta[i, j] == 0.0


def test_two_opt_never_lengthens_and_ends_locally_optimal():
    rng = np.random.default_rng(0)
    for env in ENVS:
        for start in (_random_tour(rng, env.n), nearest_neighbour_tour(env.dist, 3)):
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
            assert _valid(final, env.n)
            assert tour_length(env.dist, final) == pytest.approx(length)
            assert _no_improving_reversal(env.dist, final)
            assert tour_length(env.dist, final) >= env.optimal_length - 1e-9


def test_two_opt_max_passes():
    env = ENVS[1]
    start = _random_tour(np.random.default_rng(5), env.n)
    one = two_opt(env.dist, start, max_passes=1)
    assert one == two_opt_pass(env.dist, start)[0]
    assert tour_length(env.dist, one) < tour_length(env.dist, start)  # a random tour of 10 points is improvable
    # a rotated start gives a tour starting at 0
    assert _valid(two_opt(env.dist, start[3:] + start[:3]), env.n)


def _drive(kind: str, env: gym.Env, seed: int, steps: int, **params) -> tuple[list[list[int]], list[float], object]:
    agent = make_agent(kind, params)
    env.reset(seed=seed)
    agent.reset(env.unwrapped, np.random.default_rng(seed))
    actions, lengths = [], []
    for _ in range(steps):
        action = agent.act(0)
        _, reward, _, _, info = env.step(action)
        agent.observe(action, reward, info)
        assert info["valid"] and _valid(action, env.unwrapped.n)
        actions.append(action)
        lengths.append(info["length"])
    return actions, lengths, agent


def test_two_opt_agent_reaches_near_optimum():
    gaps = []
    for s in range(5):
        env = gym.make("expobench/TSP-10-v0", instance_seed=s)
        actions, lengths, agent = _drive("tsp_two_opt", env, s, 30)
        opt = env.unwrapped.optimal_length
        assert actions[0] == nearest_neighbour_tour(env.unwrapped.dist, 0)
        assert agent.best_length == pytest.approx(min(lengths))
        assert tour_length(env.unwrapped.dist, agent.best_tour) == pytest.approx(min(lengths))
        gaps.append(min(lengths) / opt - 1)
    assert agent.restarts > 0  # 30 steps on n = 10 reach local optima and restart
    assert np.mean(gaps) < 0.05  # measured: 0.0 (the optimum) on every one of these instances


def test_agents_are_pure_functions_of_the_rng():
    env = gym.make("expobench/TSP-10-v0", instance_seed=2)
    a, _, _ = _drive("tsp_two_opt", env, 7, 25)
    b, _, _ = _drive("tsp_two_opt", env, 7, 25)
    c, _, _ = _drive("tsp_two_opt", env, 8, 25)
    assert a == b and a != c
    for kind in ("tsp_nearest_neighbour", "tsp_farthest_insertion"):
        tours, _, _ = _drive(kind, env, 0, 12)
        build = nearest_neighbour_tour if kind == "tsp_nearest_neighbour" else farthest_insertion_tour
        assert tours == [build(env.unwrapped.dist, t % 10) for t in range(12)]


def test_two_opt_agent_passes_per_step():
    env = gym.make("expobench/TSP-15-v0", instance_seed=0)
    one, _, _ = _drive("tsp_two_opt", env, 0, 3)
    many, _, _ = _drive("tsp_two_opt", env, 0, 2, max_passes_per_step=50)
    assert many[1] == two_opt(env.unwrapped.dist, one[0])  # 50 passes from NN reach the local optimum
    assert one[1] == two_opt(env.unwrapped.dist, one[0], max_passes=1)


def test_agents_through_the_runner(tmp_path):
    cfg = parse_config({"name": "t", "env": {"id": "expobench/TSP-10-v0"}, "horizon": 10, "seeds": [0, 1],
                        "agents": [{"name": "two_opt", "kind": "tsp_two_opt"},
                                   {"name": "nn", "kind": "tsp_nearest_neighbour"},
                                   {"name": "fi", "kind": "tsp_farthest_insertion"}],
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    spec = metric_for(cfg.env.id)
    assert spec.name == "optimality_gap"
    with RunStore(tmp_path / "o", create=False) as store:
        runs = load_runs(store)
    assert sorted(runs) == ["fi", "nn", "two_opt"]
    for rs in runs.values():
        assert len(rs) == 2
        for r in rs:
            gap = spec.curve(r)[1:]  # entry 0: the initial design (none for these agents)
            assert np.isnan(spec.curve(r)[0]) and len(gap) == 10 and np.all(np.diff(gap) <= 1e-9) and gap[-1] >= -1e-9
            assert all(_valid(list(a), 10) for a in r.actions)
    assert [r.records[0]["phase"] for r in runs["two_opt"]] == ["init", "init"]


def test_tsp_agent_refuses_other_envs():
    from expobench.envs.linreg import LinearRegressionEnv

    for kind in ("tsp_two_opt", "tsp_nearest_neighbour", "tsp_farthest_insertion"):
        with pytest.raises(TypeError, match="needs a TSP env"):
            make_agent(kind).reset(LinearRegressionEnv(), np.random.default_rng(0))
