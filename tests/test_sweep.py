"""expobench sweep: a sweep file or configs with --set overrides expand into named experiments, each in its own
directory, all checked before any work; a 3-value η sweep runs and summary/report read the sweep directory."""

import json
from pathlib import Path

import pytest
import yaml

from expobench.experiments.cli import main
from expobench.experiments.errors import ConfigError
from expobench.experiments.store import RunStore
from expobench.experiments.sweep import expand, parse_overrides, resolve, set_path

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path) -> Path:
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    pool = tmp_path / "pool.json"
    cfg = {"name": "eta", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 6, "seeds": [0, 1],
           "agents": [{"name": "ucb", "kind": "ucb"},
                      {"name": "expo", "kind": "llm_bandit", "params": {"design": "BSSND"},
                       "optimizer": {"kind": "expo", "params": {"eta": 10, "hidden": 8, "steps": 2},
                                     "pool": {"path": str(pool)}}}],
           "llm": {"backend": "scripted", "policy": "random_choice"}}
    parsed = parse_config(cfg)
    base = base_meta_prompt_for(parsed, parsed.agents[1])
    CandidatePool([base.description, "Five buttons; one pays more.", "Find the best of five buttons."],
                  [base.instruction, "Give a probability for each button."]).save(pool)
    path = tmp_path / "eta.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_overrides_parse_and_set_paths():
    assert parse_overrides(["a.b=1,2.5,x", "c=[1,2],[3]"]) == {"a.b": [1, 2.5, "x"], "c": [[1, 2], [3]]}
    data = {"agents": [{"name": "a"}], "horizon": 5}
    set_path(data, "agents.0.optimizer.params.eta", 100)
    assert data["agents"][0]["optimizer"] == {"params": {"eta": 100}}
    with pytest.raises(ConfigError, match=r"--set agents\.3\.x: agents\.3: no such item \(the list has 1 items\)"):
        set_path(data, "agents.3.x", 1)
    with pytest.raises(ConfigError, match=r"horizon is 5, which has no field 'x'"):
        set_path(data, "horizon.x", 1)
    with pytest.raises(ConfigError, match="expected FIELD.PATH=VALUE"):
        parse_overrides(["eta"])


def test_an_override_naming_no_field_is_refused_before_any_work(tmp_path, capsys):
    path = _config(tmp_path)
    with pytest.raises(ConfigError, match=r"agents\[1\]\.optimizer\.params\.etaa: unknown field.*names no field"):
        expand([path], {"agents.1.optimizer.params.etaa": [1]}, tmp_path / "s")
    out = tmp_path / "s2"
    assert main(["sweep", str(path), "--set", "agents.1.optimizer.params.eta=10,-1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "eta=-1" in err and "agents[1].optimizer.params.eta" in err
    assert not out.exists()  # the first (valid) experiment did not run either


def test_a_three_value_eta_sweep_runs_and_reads_as_one_directory(tmp_path, capsys):
    _config(tmp_path)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"name": "etas", "configs": ["eta.yaml"],
                                     "set": {"agents.1.optimizer.params.eta": [10, 100, 1000]},
                                     "out": str(tmp_path / "etas")}))
    assert main(["sweep", str(sweep), "--quiet"]) == 0
    names = ["eta__eta-10", "eta__eta-100", "eta__eta-1000"]
    assert [e["name"] for e in json.loads((tmp_path / "etas" / "sweep.json").read_text())] == names
    for name, eta in zip(names, (10, 100, 1000)):
        with RunStore(tmp_path / "etas" / name, create=False) as store:
            cfg = store.get_meta("config")
            assert cfg["name"] == name and cfg["agents"][1]["optimizer"]["params"]["eta"] == eta
            assert len(store.runs()) == 4 and all(r["status"] == "done" for r in store.runs())
    capsys.readouterr()
    assert main(["summary", str(tmp_path / "etas")]) == 0
    text = capsys.readouterr().out
    assert all(f"{n}: final" in text for n in names)
    assert main(["summary", str(tmp_path / "etas"), "--json"]) == 0
    tables = json.loads(capsys.readouterr().out)
    assert list(tables) == names and all({r["agent"] for r in t} == {"ucb", "expo"} for t in tables.values())
    assert main(["report", str(tmp_path / "etas"), "--dest", str(tmp_path / "rep")]) == 0
    assert all(n in (tmp_path / "rep.md").read_text() for n in names)
    # running the same sweep again resumes: nothing is re-run, nothing duplicated
    assert main(["sweep", str(sweep), "--quiet"]) == 0
    with RunStore(tmp_path / "etas" / names[0], create=False) as store:
        assert sum(r["steps_done"] for r in store.runs()) == 4 * 6


def test_every_reproduction_set_is_one_sweep():
    for budget in ("cpu", "paper"):
        folder = ROOT / "experiments" / "configs" / "reproduce" / budget
        out, items = resolve([str(folder)], [], None)
        assert len(items) == len(list(folder.glob("*.yaml"))) >= 15
        assert out == Path("runs") / f"sweep-{budget}"
        assert len({i.name for i in items}) == len(items)
        assert all(Path(i.config.out) == out / i.name for i in items)
