"""The dry pass before any work: a config whose env, agents, pools or output directory cannot work is refused
with exit 2, one message naming the field, and nothing written; one writer per output directory."""

from __future__ import annotations

import fcntl

import pytest
import yaml

from expobench.experiments.cli import main
from expobench.experiments.store import RunStore

BANDIT = {"id": "expobench/MAB-hard-v0"}
SCRIPTED = {"backend": "scripted"}

CASES = {
    "n_arms 0": ({"id": "expobench/MAB-hard-v0", "kwargs": {"n_arms": 0}}, [{"name": "u", "kind": "ucb"}],
                 "env.kwargs", "n_arms must be >= 2"),
    "delta 2": ({"id": "expobench/MAB-hard-v0", "kwargs": {"delta": 2}}, [{"name": "u", "kind": "ucb"}],
                "env.kwargs", "Bernoulli means must lie in [0, 1]"),
    "best_arm 9": ({"id": "expobench/MAB-hard-v0", "kwargs": {"best_arm": 9}}, [{"name": "u", "kind": "ucb"}],
                   "env.kwargs", "best_arm must be an arm index in [0, 5) or 'random'"),
    "unknown kwarg": ({"id": "expobench/MAB-hard-v0", "kwargs": {"colour": 1}}, [{"name": "u", "kind": "ucb"}],
                      "env.kwargs", "unexpected keyword argument 'colour'"),
    "period 0": ({"id": "expobench/MAB-hard-changepoint-v0", "kwargs": {"period": 0}},
                 [{"name": "u", "kind": "ucb"}], "env.kwargs", "period must be >= 1"),
    "negative noise": ({"id": "expobench/MAB-gaussian-v0", "kwargs": {"noise_std": -1}},
                       [{"name": "u", "kind": "ucb"}], "env.kwargs", "noise_std must be a finite number >= 0"),
    "ucb on TSP": ({"id": "expobench/TSP-10-v0"}, [{"name": "u", "kind": "ucb"}], "agents[0] (u)",
                   "needs a Discrete action space"),
    "2-opt on a bandit": (BANDIT, [{"name": "t", "kind": "tsp_two_opt"}], "agents[0] (t)", "needs a TSP env"),
    "random search on a bandit": (BANDIT, [{"name": "u", "kind": "ucb"}, {"name": "r", "kind": "random_search"}],
                                  "agents[1] (r)", "needs a black-box or HPO env"),
    "llm_opro on a bandit": (BANDIT, [{"name": "o", "kind": "llm_opro"}], "agents[0] (o)", "no OPRO text"),
    "fallback 17": (BANDIT, [{"name": "b", "kind": "llm_bandit", "params": {"fallback": 17}}], "agents[0] (b)",
                    "fallback arm 17 outside [0, 5)"),
    "missing pool": (BANDIT, [{"name": "b", "kind": "llm_bandit",
                               "optimizer": {"kind": "expo", "pool": {"path": "/nonexistent/pool.json"}}}],
                     "agents[0] (b).optimizer.pool.path", "no such file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_config_that_cannot_work_is_refused_before_any_work(case, tmp_path, capsys):
    env, agents, field, message = CASES[case]
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "env": env, "horizon": 3, "agents": agents, "llm": SCRIPTED,
                                      "out": str(out)}))
    assert main(["run", "--quiet", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"expobench: error: {field}") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_an_output_path_that_cannot_be_a_directory_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "file", "exists and is not a directory"),
                         (tmp_path / "file" / "below", "which is not a directory")):
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({"name": "x", "env": BANDIT, "horizon": 3, "out": str(out),
                                          "agents": [{"name": "u", "kind": "ucb"}]}))
        assert main(["run", "--quiet", str(config)]) == 2
        assert f"out: {out}" in (err := capsys.readouterr().err) and message in err


def test_one_writer_per_output_directory(tmp_path, capsys):
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "env": BANDIT, "horizon": 3, "out": str(out),
                                      "agents": [{"name": "u", "kind": "ucb"}]}))
    out.mkdir()
    with open(out / ".expobench.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process writing
        assert main(["run", "--quiet", str(config)]) == 2
        assert "another expobench run is writing to" in capsys.readouterr().err
    assert main(["run", "--quiet", str(config)]) == 0  # released: runs


def test_seed_sharded_runs_of_one_experiment_record_every_seed(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "env": BANDIT, "horizon": 3, "out": str(tmp_path / "out"),
                                      "agents": [{"name": "u", "kind": "ucb"}]}))
    assert main(["run", "--quiet", str(config), "--seeds", "0-1"]) == 0
    assert main(["run", "--quiet", str(config), "--seeds", "2"]) == 0
    with RunStore(tmp_path / "out", create=False) as store:
        assert store.get_meta("config")["seeds"] == [0, 1, 2]
        assert sorted(r["seed"] for r in store.runs()) == [0, 1, 2]


@pytest.mark.parametrize("llm, field, message", [
    ({"backend": "llamacpp", "model": "no-such-model"}, "llm.model", "unknown model 'no-such-model'"),
    ({"backend": "llamacpp", "model": "/nowhere/m.gguf"}, "llm.model", "existing .gguf file"),
    ({"backend": "llamacpp", "model": "GARBAGE"}, "llm.model", "is not a GGUF model file"),
    ({"backend": "openai", "model": "m"}, "llm.base_url", "required for backend 'openai'"),
    ({"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "EXPOBENCH_NO_KEY"},
     "llm.api_key_env", "EXPOBENCH_NO_KEY is not set"),
])
def test_llm_settings_that_cannot_answer_are_refused_before_any_work(llm, field, message, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.delenv("EXPOBENCH_NO_KEY", raising=False)
    if llm.get("model") == "GARBAGE":  # a file named .gguf that is not one
        (tmp_path / "garbage.gguf").write_bytes(bytes(range(256)) * 16)
        llm = {**llm, "model": str(tmp_path / "garbage.gguf")}
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "env": BANDIT, "horizon": 3, "out": str(out), "llm": llm,
                                      "agents": [{"name": "b", "kind": "llm_bandit"}]}))
    assert main(["run", "--quiet", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"expobench: error: {field}") and message in err
    assert not out.exists()


def test_a_cache_path_that_cannot_be_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for cache, message in ((tmp_path, "is a directory"), (tmp_path / "file" / "c.sqlite", "cannot be created")):
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({"name": "x", "env": BANDIT, "horizon": 3, "out": str(tmp_path / "out"),
                                          "cache": {"path": str(cache)}, "llm": SCRIPTED,
                                          "agents": [{"name": "b", "kind": "llm_bandit"}]}))
        assert main(["run", "--quiet", str(config)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("expobench: error: cache.path") and message in err
        assert not (tmp_path / "out").exists()
