"""The Ray executor's parts without a cluster: a shard worker run in this process writes, through the driver's
apply_ops, exactly what the local runner writes (also when resumed mid-run on a fresh worker); executor settings
are checked before any work; room on a cluster is counted per node."""

import json
import sqlite3
from pathlib import Path

import pytest

from expobench.experiments.cli import main
from expobench.experiments.config import parse_config
from expobench.experiments.errors import ConfigError
from expobench.experiments.executors import with_executor
from expobench.experiments.ray_executor import RayExecutor, ShardWorker, apply_ops, room_for
from expobench.experiments.runner import _open_for, run_experiment, run_specs
from expobench.experiments.store import RunStore


def store_rows(out: Path):
    """Runs, steps and LLM calls as stored, without what depends on timing (latency, wall time) or on the state
    of the response cache (a step's cache-hit count)."""
    db = sqlite3.connect(out / "runs.sqlite")
    runs = db.execute("SELECT run_id, agent, kind, seed, status, steps_done, config, digest FROM runs ORDER BY run_id"
                      ).fetchall()
    steps = []
    for r in db.execute("SELECT run_id, t, action, reward, expected_reward, optimal_expected_reward,"
                        " optimal_action, record FROM steps ORDER BY run_id, t"):
        record = {k: v for k, v in json.loads(r[-1]).items() if k not in ("latency_s", "cache_hits")}
        steps.append((*r[:-1], record))
    calls = db.execute("SELECT run_id, t, seq, role, request_hash, text, prompt_tokens, completion_tokens"
                       " FROM llm_calls ORDER BY run_id, t, seq").fetchall()
    db.close()
    return runs, steps, calls


def _cfg(out, horizon=30):
    return parse_config({"name": "u", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon, "seeds": [0, 1],
                         "out": str(out), "batch_width": 2,
                         "agents": [{"name": "ucb", "kind": "ucb"},
                                    {"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSND"}}],
                         "llm": {"backend": "scripted", "policy": "bandit_best_mean"}})


def _drive(worker, store, payloads, stop_after=None):
    chunk = worker.advance(payloads, budget_s=0.0)
    n = 0
    while True:
        n += len(apply_ops(store, chunk.ops))
        if not chunk.left or (stop_after is not None and n >= stop_after):
            return n
        chunk = worker.advance(budget_s=0.0)


def test_a_shard_worker_writes_what_the_local_runner_writes_also_across_a_lost_worker(tmp_path):
    from expobench.experiments.preflight import preflight

    run_experiment(_cfg(tmp_path / "local"), progress=False).close()
    cfg = _cfg(tmp_path / "shard")
    store = _open_for(cfg, preflight(cfg))
    specs = run_specs(cfg)
    worker = ShardWorker(cfg, True, None, {}, None)
    assert _drive(worker, store, [RayExecutor._payload(s, store) for s in specs], stop_after=25) >= 25
    # the worker is lost: a fresh one gets the runs with the steps the driver holds, replays and finishes them
    fresh = ShardWorker(cfg, True, None, {"n_actions": store.get_meta("n_actions")}, None)
    _drive(fresh, store, [RayExecutor._payload(s, store) for s in specs])
    store.close()
    assert store_rows(tmp_path / "shard") == store_rows(tmp_path / "local")
    with RunStore(tmp_path / "shard", create=False) as s:
        assert not s.verify()


def test_executor_settings_are_checked_before_any_work(tmp_path, capsys):
    cfg = _cfg(tmp_path / "o")
    assert with_executor(cfg, "ray", None, 3).executor.workers == 3
    assert with_executor(cfg, None, "auto", None).executor.kind == "ray"  # an address means a cluster
    with pytest.raises(ConfigError, match=r"executor\.kind: Input should be 'local' or 'ray'"):
        with_executor(cfg, "dask")
    with pytest.raises(ConfigError, match=r"executor\.workers"):
        with_executor(cfg, "ray", None, 0)
    with pytest.raises(ConfigError, match=r"executor\.address: expected auto"):
        with_executor(cfg, "ray", "http://x")
    path = tmp_path / "c.yaml"
    path.write_text("name: u\nenv: {id: expobench/MAB-hard-v0}\nagents: [{name: ucb, kind: ucb}]\n")
    out = tmp_path / "never"
    assert main(["run", str(path), "--out", str(out), "--executor", "dask"]) == 2
    assert "executor.kind" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(out), "--address", "127.0.0.1:9"]) == 2
    assert "executor.address: cannot reach a Ray cluster at 127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists()


def test_room_is_counted_per_node():
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}}, {"Alive": True, "Resources": {"CPU": 4.0}},
             {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]
    assert room_for(nodes, {"num_gpus": 1}) == 2  # the dead node does not count
    assert room_for(nodes, {"num_cpus": 3}) == 3  # 2 + 1: a worker does not span nodes
    assert room_for(nodes, {"num_cpus": 1, "num_gpus": 1}) == 2
    assert room_for(nodes, {"num_cpus": 1, "accelerator_x": 1}) == 0
