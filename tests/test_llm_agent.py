"""The LLM bandit agent through the runner: scripted backend for logic, the real SmolLM2 model for the path."""

import sqlite3

import numpy as np
import pytest

from expobench.experiments.config import parse_config
from expobench.experiments.metrics import load_runs
from expobench.experiments.runner import run_experiment


def config(out, agents, llm, horizon=12, seeds=(0, 1), **over):
    return parse_config({"name": "llm", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon,
                         "seeds": list(seeds), "agents": agents, "llm": llm, "out": str(out), **over})


SCRIPTED = {"backend": "scripted", "policy": "bandit_best_mean"}


def records(out, agent):
    with __import__("expobench.experiments.store", fromlist=["RunStore"]).RunStore(out, create=False) as store:
        return {r.seed: r for r in load_runs(store)[agent]}


@pytest.mark.parametrize("design", ["BSSND", "BNRN0", "ASSC1", "BSSRD"])
def test_scripted_best_mean_agent_plays_valid_arms_and_records_everything(tmp_path, design):
    cfg = config(tmp_path / "o", [{"name": "a", "kind": "llm_bandit", "params": {"design": design}}], SCRIPTED)
    run_experiment(cfg, progress=False).close()
    runs = records(tmp_path / "o", "a")
    for run in runs.values():
        assert len(run.actions) == 12 and all(0 <= a < 5 for a in run.actions)
        # the policy plays every arm once, then the best empirical mean
        assert sorted(run.actions[:5]) == [0, 1, 2, 3, 4]
        for rec in run.records:
            assert rec["llm"] and not rec["invalid"] and not rec["fallback"]
            assert rec["mp_hash"] and rec["prompt_hash"] and rec["text"]
            assert 0.0 <= rec["prompt_score"] <= 1.0
        if design[3] in "CR":
            assert all("reasoning" in rec for rec in run.records)


def test_garbage_output_is_reasked_then_falls_back_and_is_counted(tmp_path):
    llm = {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": ["???"]}}
    cfg = config(tmp_path / "o", [{"name": "a", "kind": "llm_bandit",
                                   "params": {"design": "BNSN0", "max_retries": 2, "fallback": 3}}], llm)
    run_experiment(cfg, progress=False).close()
    for run in records(tmp_path / "o", "a").values():
        assert run.actions == [3] * 12
        assert all(r["invalid"] and r["fallback"] and r["calls"] == 3 for r in run.records)


def test_second_answer_that_parses_is_used(tmp_path):
    llm = {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": ["nonsense", "red"]}}
    cfg = config(tmp_path / "o", [{"name": "a", "kind": "llm_bandit", "params": {"design": "BNSN0"}}], llm,
                 seeds=[0])
    run_experiment(cfg, progress=False).close()
    run = records(tmp_path / "o", "a")[0]
    assert run.actions == [2] * 12
    assert all(r["invalid"] and not r["fallback"] for r in run.records)


def test_rerun_replays_from_cache_and_no_cache_bypasses(tmp_path):
    agents = [{"name": "a", "kind": "llm_bandit", "params": {"design": "BSSND"}}]
    cfg = config(tmp_path / "o1", agents, SCRIPTED, cache={"path": str(tmp_path / "cache.sqlite")})
    run_experiment(cfg, progress=False).close()
    cfg2 = config(tmp_path / "o2", agents, SCRIPTED, cache={"path": str(tmp_path / "cache.sqlite")})
    run_experiment(cfg2, progress=False).close()
    db = sqlite3.connect(tmp_path / "o2" / "runs.sqlite")
    assert db.execute("SELECT MIN(cached) FROM llm_calls").fetchone()[0] == 1
    cfg3 = config(tmp_path / "o3", agents, SCRIPTED, cache={"path": str(tmp_path / "cache.sqlite")})
    run_experiment(cfg3, progress=False, use_cache=False).close()
    db = sqlite3.connect(tmp_path / "o3" / "runs.sqlite")
    assert db.execute("SELECT MAX(cached) FROM llm_calls").fetchone()[0] == 0


def test_interrupted_llm_run_resumes_without_calling_the_model(tmp_path):
    agents = [{"name": "a", "kind": "llm_bandit", "params": {"design": "BSSND"}}, {"name": "u", "kind": "ucb"}]
    full = config(tmp_path / "full", agents, SCRIPTED)
    run_experiment(full, progress=False, use_cache=False).close()

    class Stop(Exception):
        pass

    def stop(run_id, t):
        if t == 6:
            raise Stop

    cfg = config(tmp_path / "res", agents, SCRIPTED)
    with pytest.raises(Stop):
        run_experiment(cfg, progress=False, use_cache=False, on_step=stop)
    run_experiment(cfg, progress=False, use_cache=False).close()

    def dump(out):
        db = sqlite3.connect(out / "runs.sqlite")
        return (db.execute("SELECT run_id, t, action, reward, record FROM steps ORDER BY run_id, t").fetchall(),
                db.execute("SELECT run_id, t, seq, text FROM llm_calls ORDER BY run_id, t, seq").fetchall())

    assert dump(tmp_path / "res") == dump(tmp_path / "full")


def test_distribution_answers_are_sampled_with_the_run_rng(tmp_path):
    llm = {"backend": "scripted", "policy": "fixed",
           "policy_args": {"texts": ["blue:0.5,green:0.5,red:0,yellow:0,purple:0"]}}
    cfg = config(tmp_path / "o", [{"name": "a", "kind": "llm_bandit", "params": {"design": "BNSND"}}], llm,
                 horizon=200, seeds=[0])
    run_experiment(cfg, progress=False).close()
    run = records(tmp_path / "o", "a")[0]
    counts = np.bincount(run.actions, minlength=5)
    assert counts[2:].sum() == 0 and 70 < counts[0] < 130


@pytest.mark.slow
@pytest.mark.llm
def test_real_smollm2_agent_runs_with_constrained_valid_answers(tmp_path):
    llm = {"backend": "llamacpp", "model": "smollm2-135m-instruct", "n_ctx": 2048}
    agents = [{"name": "nd", "kind": "llm_bandit", "params": {"design": "BSSND"}},
              {"name": "c0", "kind": "llm_bandit", "params": {"design": "BSSC0", "cot_max_tokens": 16}}]
    cfg = config(tmp_path / "o", agents, llm, horizon=4, seeds=[0])
    run_experiment(cfg, progress=False).close()
    for agent in ("nd", "c0"):
        run = records(tmp_path / "o", agent)[0]
        for rec in run.records:
            assert not rec["fallback"], rec
            assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] > 0
    # replay from the cache: identical actions, every call a cache hit
    cfg2 = config(tmp_path / "o2", agents, llm, horizon=4, seeds=[0],
                  cache={"path": str(tmp_path / "o" / "llm_cache.sqlite")})
    run_experiment(cfg2, progress=False).close()
    assert records(tmp_path / "o2", "nd")[0].actions == records(tmp_path / "o", "nd")[0].actions
    db = sqlite3.connect(tmp_path / "o2" / "runs.sqlite")
    assert db.execute("SELECT MIN(cached) FROM llm_calls").fetchone()[0] == 1


@pytest.mark.slow
@pytest.mark.llm
def test_expo_end_to_end_with_real_smollm2(tmp_path):
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    llm = {"backend": "llamacpp", "model": "smollm2-135m-instruct", "n_ctx": 2048}
    agents = [{"name": "expo", "kind": "llm_bandit", "params": {"design": "BSSN0"},
               "optimizer": {"kind": "expo", "params": {"steps": 10}, "pool": {"path": str(tmp_path / "pool.json")}}}]
    cfg = config(tmp_path / "o", agents, llm, horizon=4, seeds=[0])
    base = base_meta_prompt_for(cfg, cfg.agents[0])
    CandidatePool([base.description, base.description.replace("You are", "Imagine you are")],
                  [base.instruction, "Reply with one button name only."]).save(tmp_path / "pool.json")
    run_experiment(cfg, progress=False).close()
    run = records(tmp_path / "o", "expo")[0]
    assert len(run.actions) == 4
    for rec in run.records:
        assert not rec["fallback"]
        assert rec["optimizer"]["top5"] and rec["mp_ids"]["d"] in (0, 1)
        assert abs(sum(p for _, p in rec["optimizer"]["top5"]) - 1) < 1e-6
    assert run.records[0]["mp_ids"] == {"d": 0, "i": 0, "e": 0}


def test_permuted_labels_name_arms_per_seed_and_answers_map_through_them(tmp_path):
    """``labels: permuted``: each seed names the arms in its own order (the same for every agent of the seed, so
    comparisons stay paired); an answer "red" plays the arm named red in that seed, and records keep the names."""
    from expobench.experiments.runner import base_meta_prompt_for

    llm = {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": ["red"]}}
    agents = [{"name": a, "kind": "llm_bandit", "params": {"design": "BNSN0", "labels": "permuted"}} for a in "ab"]
    cfg = config(tmp_path / "o", agents, llm, seeds=[0, 1, 2, 3])
    run_experiment(cfg, progress=False).close()
    runs_a, runs_b = records(tmp_path / "o", "a"), records(tmp_path / "o", "b")
    orders = set()
    for seed, run in runs_a.items():
        labels = run.records[0]["labels"]
        assert sorted(labels) == ["blue", "green", "purple", "red", "yellow"]
        assert runs_b[seed].records[0]["labels"] == labels
        assert run.actions == [labels.index("red")] * 12 and not run.records[0]["invalid"]
        base = base_meta_prompt_for(cfg, cfg.agents[0], seed)
        assert f"labeled {', '.join(labels)}." in base.description
        orders.add(tuple(labels))
    assert len(orders) > 1
    natural = config(tmp_path / "n", [{"name": "a", "kind": "llm_bandit", "params": {"design": "BNSN0"}}], llm,
                     seeds=[0])
    run_experiment(natural, progress=False).close()
    run = records(tmp_path / "n", "a")[0]
    assert run.actions == [2] * 12 and "labels" not in run.records[0]
