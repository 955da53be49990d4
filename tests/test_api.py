"""The Python API (``expobench.run`` / ``expobench.load`` → ``Experiment`` with tidy DataFrames), the CLI's
``export``, and the notebook-style example of docs/python.md, executed as written."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import expobench
from expobench.experiments.api import STEP_COLUMNS
from expobench.experiments.cli import main
from expobench.experiments.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _config(out: Path, **extra) -> dict:
    return {"name": "api", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 30, "seeds": [0, 1],
            "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "rnd", "kind": "random"}], "out": str(out),
            **extra}


def test_run_from_a_dict_gives_tidy_steps_that_agree_with_the_summary(tmp_path):
    exp = expobench.run(_config(tmp_path / "out"))
    steps = exp.steps()
    assert list(steps.columns) == STEP_COLUMNS
    assert len(steps) == 2 * 2 * 30 and steps["action"].dtype == np.int64
    assert set(steps.groupby("run_id").t.max()) == {29}
    per_run = steps.groupby(["agent", "seed"]).regret.sum()
    summary = exp.summary().set_index("agent")
    for agent in ("ucb", "rnd"):
        assert per_run[agent].mean() == pytest.approx(summary.loc[agent, "regret_mean"])
    last = steps[steps.t == 29].set_index("run_id").cumulative_regret
    assert np.allclose(last.values, steps.groupby("run_id").regret.sum()[last.index].values)
    runs = exp.runs()
    assert set(runs.status) == {"done"} and sorted(runs.seed.unique()) == [0, 1]
    assert exp.config["horizon"] == 30 and exp.name == "api"


def test_run_overrides_load_and_bad_input(tmp_path):
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump(_config(tmp_path / "a")))
    exp = expobench.run(path, out=tmp_path / "b", seeds=[3])
    assert exp.out == tmp_path / "b" and set(exp.runs().seed) == {3}
    again = expobench.load(tmp_path / "b")
    pd.testing.assert_frame_equal(again.steps(), exp.steps())
    with pytest.raises(ConfigError, match="horizon"):
        expobench.run({**_config(tmp_path / "c"), "horizon": 0})
    assert not (tmp_path / "c").exists()  # validated before any work
    with pytest.raises(FileNotFoundError, match="runs.sqlite"):
        expobench.load(tmp_path / "nothing")


def test_llm_columns_carry_prompt_scores_and_candidate_ids(tmp_path):
    cfg = _config(tmp_path / "llm", agents=[{
        "name": "expo", "kind": "llm_bandit", "params": {"design": "BSSND"},
        "optimizer": {"kind": "expo", "params": {"steps": 5},
                      "pool": {"path": str(ROOT / "metaopt/data/pools/MAB-K5-T25-BSSND.json")}},
    }], horizon=25, seeds=[0])  # the shipped pool was made for T = 25
    cfg["llm"] = {"backend": "scripted", "policy": "bandit_best_mean"}
    steps = expobench.run(cfg).steps()
    assert steps.prompt_score.notna().all() and steps.prompt_tokens.notna().all()
    assert steps.description_id.notna().all() and steps.instruction_id.notna().all()
    assert steps.di_hash.str.len().eq(16).all() and steps.fallback.eq(False).all()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_export_writes_the_same_tables(tmp_path, fmt, capsys):
    exp = expobench.run(_config(tmp_path / "out"))
    assert main(["export", str(tmp_path / "out"), "--format", fmt]) == 0
    paths = capsys.readouterr().out.split()
    assert [Path(p).name for p in paths] == [f"steps.{fmt}", f"runs.{fmt}", f"summary.{fmt}"]
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    back = read(paths[0])
    assert list(back.columns) == STEP_COLUMNS and len(back) == len(exp.steps())
    assert np.allclose(back.regret, exp.steps().regret)
    assert main(["export", str(tmp_path / "missing")]) == 2


def test_docs_python_md_example_runs_as_written(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/python.md has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)
    assert isinstance(namespace["exp"], expobench.Experiment)
    assert (tmp_path / "runs" / "quickstart" / "export" / "steps.parquet").exists()
