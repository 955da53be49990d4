"""Tabular HPO: 25 registered tasks with LLAMBO's spaces, deterministic cached evaluations, shared initial
points, validation, the HPO text task, and agents through the runner. The protocols' definitions (split, CV,
models, metrics, LLAMBO's reference numbers) are pinned in test_hpo_protocols.py."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from expobench.envs.hpo import DATASETS, HPO_IDS, MODELS, SPACES, HPOEnv
from expobench.envs.opro_text import HPOTask, task_for


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))


def test_all_25_tasks_are_registered_with_their_spaces():
    assert len(HPO_IDS) == 25
    for m in MODELS:
        for d in DATASETS:
            env = gym.make(f"expobench/HPO-{m}-{d}-v0").unwrapped
            assert env.space.names == tuple(p.name for p in SPACES["llambo"][m])
            assert env.protocol == "llambo" and env.metric == ("acc" if d != "diabetes" else "mse")
    assert HPOEnv(model="svm").space.dim == 3 and HPOEnv(model="mlp_sgd").space.dim == 6
    assert HPOEnv(model="mlp_sgd", protocol="bayesmark").space.dim == 8  # + tol, validation_fraction
    env = gym.make("expobench/HPO-dt-iris-v0", protocol="bayesmark", metric="nll").unwrapped  # config kwargs
    assert (env.protocol, env.metric) == ("bayesmark", "nll")


def test_checker_and_scores():
    env = HPOEnv("iris", "dt")
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    _, r, _, _, info = env.step(env.warm_start[0])
    assert 0.0 <= r <= 1.0 and 0.0 <= info["test_score"] <= 1.0 and info["score"] == r and info["loss"] == -r
    reg = HPOEnv("diabetes", "dt")
    reg.reset(seed=0)
    _, r, _, _, info = reg.step(reg.warm_start[0])
    assert r < 0.0 and info["loss"] == -r  # the reward is the negated MSE


def test_evaluations_are_deterministic_and_cached_across_instances():
    a = HPOEnv("wine", "dt")
    a.reset(seed=1)
    x = a.warm_start[2]
    first = a.step(x)
    assert a.cache_misses == 1 and a.cache_hits == 0
    again = a.step(x)
    assert a.cache_hits == 1 and again[1] == first[1] and again[4] == first[4]
    b = HPOEnv("wine", "dt")  # a fresh instance reads the SQLite cache
    assert b.evaluate(x) == (first[1], first[4]["test_score"]) and b.cache_hits == 1 and b.cache_misses == 0
    assert b._fit(b.space.to_dict(x)) == b.evaluate(x)  # recomputing gives the cached value


@pytest.mark.parametrize("protocol", ["llambo", "bayesmark"])
@pytest.mark.parametrize("seed", [0, 12])  # llambo: LLAMBO's configurations for seeds 0-9, Sobol beyond
def test_initial_points_are_fixed_per_seed_and_valid(protocol, seed):
    env = HPOEnv("digits", "svm", protocol=protocol)
    p0, p0b, p1 = env.initial_points(seed), env.initial_points(seed), env.initial_points(seed + 1)
    assert np.array_equal(p0, p0b) and not np.array_equal(p0, p1) and p0.shape == (5, 3)
    assert all(env.space.check(p) is None for p in np.vstack([p0, p1]))
    env.reset(seed=seed + 7)
    assert np.array_equal(env.warm_start, env.initial_points(seed + 7))


def test_invalid_configuration_raises_naming_the_parameter():
    env = HPOEnv("iris", "dt")
    x = env.warm_start[0].copy()
    x[0] = 16  # max_depth in [1, 15]
    with pytest.raises(ValueError, match="max_depth=16 outside"):
        env.step(x)
    x[0] = 3.4  # a Box action is real-valued: integer parameters are rounded, and the info says so
    info = env.step(x)[4]
    assert info["config"]["max_depth"] == 3
    x[0] = 3
    hits = env.cache_hits
    env.step(x)
    assert env.cache_hits == hits + 1


def test_bad_names_list_the_allowed_values():
    with pytest.raises(ValueError, match="dataset: unknown 'mnist'; allowed: digits, wine"):
        HPOEnv("mnist", "rf")
    with pytest.raises(ValueError, match="model: unknown 'xgboost'; allowed: rf, svm"):
        HPOEnv("iris", "xgboost")
    with pytest.raises(ValueError, match="protocol: unknown 'LLAMBO'; allowed: llambo, bayesmark"):
        HPOEnv("iris", "rf", protocol="LLAMBO")
    with pytest.raises(ValueError, match="metric: unknown 'mae'.*allowed: acc, nll"):
        HPOEnv("iris", "rf", protocol="bayesmark", metric="mae")


def test_hpo_text_task():
    env = HPOEnv("breast_cancer", "svm")
    task = task_for(env)
    assert isinstance(task, HPOTask) and task.lower_bound == -1.0
    d = task.description(False)
    assert "support vector machine" in d and "455 samples" not in d and "569 samples" in d and "C: number" in d
    sol, err = task.parse('Here: {"C": 10.5, "gamma": 0.0005, "tol": 0.001}')
    assert err is None and sol == (10.5, 0.0005, 0.001)
    assert "outside" in task.parse('{"C": 10.5, "gamma": 0.5, "tol": 0.001}')[1]
    assert task.value(sol) == -env.evaluate(np.array(sol))[0]
    shown = json.loads(task.render_one(sol, -0.95).splitlines()[0])
    assert shown == {"C": 10.5, "gamma": 0.0005, "tol": 0.001}
    schema = task.constraint().json_schema
    assert schema["required"] == ["C", "gamma", "tol"] and schema["properties"]["C"]["maximum"] == 1000.0


def test_classical_and_llm_agents_run_on_hpo(tmp_path):
    from expobench.experiments.config import parse_config
    from expobench.experiments.metrics import load_runs, metric_for
    from expobench.experiments.runner import run_experiment
    from expobench.experiments.store import RunStore

    texts = ['{"max_depth": 4, "max_features": 0.5, "min_impurity_decrease": 0.0, "min_samples_leaf": 0.05, '
             '"min_samples_split": 0.1, "min_weight_fraction_leaf": 0.01}', '{"max_depth": 40}']
    cfg = parse_config({"name": "h", "env": {"id": "expobench/HPO-dt-iris-v0"}, "horizon": 4, "seeds": [0],
                        "agents": [{"name": "rs", "kind": "random_search"}, {"name": "sobol", "kind": "sobol"},
                                   {"name": "opro", "kind": "llm_opro", "params": {"n_proposals": 2}}],
                        "llm": {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": texts}},
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    spec = metric_for(cfg.env.id)
    with RunStore(tmp_path / "o", create=False) as store:
        runs = load_runs(store)
    for rs in runs.values():
        curve = spec.curve(rs[0])  # per evaluation after the 5 initial configurations (entry 0)
        assert len(curve) >= 5 and np.all(np.diff(curve) <= 1e-12) and -1 <= curve[-1] < 0
    rec = runs["opro"][0].records[0]
    assert rec["valid_proposals"] == 1 and "missing" in rec["errors"][0]


_WRITER = """
import sys
from expobench.envs.hpo import HPOEnv
env = HPOEnv("iris", "dt", n_initial=12)
for x in env.initial_points(int(sys.argv[1])):
    env.evaluate(x)
"""


def test_two_processes_share_the_sqlite_cache_without_corrupting_it():
    import os
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}  # EXPOBENCH_CACHE: the test's private cache
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, s], cwd=root, env=env) for s in ("0", "0")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]  # the same 12 points, written concurrently
    db = sqlite3.connect(Path(os.environ["EXPOBENCH_CACHE"]) / "hpo" / "evals.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM evals").fetchone() == (12,)
    db.close()
    mine = HPOEnv("iris", "dt", n_initial=12)  # this process, same cache: every point is a hit
    for x in mine.initial_points(0):
        mine.evaluate(x)
    assert mine.cache_hits == 12 and mine.cache_misses == 0
