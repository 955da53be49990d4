"""Hostile or careless config input is refused before any work, with a short message that names the field."""

import time
from pathlib import Path

import numpy as np
import pytest

from expobench.experiments.cli import main
from expobench.experiments.config import MAX_SEEDS, load_config, parse_config
from expobench.experiments.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
BASE = "name: x\nenv: {id: expobench/MAB-hard-v0}\n"
AGENTS = "agents: [{name: a, kind: ucb}]\n"


def _refused(tmp_path, capsys, text: str | bytes, *extra: str, limit: int = 300) -> str:
    """Run ``expobench run CONFIG --print-config`` on ``text``; assert exit 2, nothing written; the message."""
    path = tmp_path / "c.yaml"
    out = tmp_path / "out"
    if isinstance(text, str):
        text = text + f"out: {out}\n"
        path.write_text(text)
    else:
        path.write_bytes(text)
    before = set(tmp_path.iterdir())
    code = main(["run", str(path), "--print-config", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not out.exists() and set(tmp_path.iterdir()) == before
    assert len(err) < limit, err
    return err


@pytest.mark.parametrize("field, text", [
    ("horizon", BASE + AGENTS + "horizon: true\n"),
    ("horizon", BASE + AGENTS + "horizon: 3.0\n"),
    ("seeds", BASE + AGENTS + "seeds: [true, false]\n"),
    ("seeds", BASE + AGENTS + "seeds: [0, 1.5]\n"),
    ("batch_width", BASE + AGENTS + "batch_width: false\n"),
    ("llm.n_ctx", BASE + AGENTS + "llm: {n_ctx: true}\n"),
    ("agents[0].params.c", BASE + "agents: [{name: a, kind: ucb, params: {c: true}}]\n"),
])
def test_a_boolean_or_float_where_an_integer_is_meant_is_refused(tmp_path, capsys, field, text):
    err = _refused(tmp_path, capsys, text)
    assert f"{field}: expected" in err and ("integer" in err or "number" in err)


@pytest.mark.parametrize("field, text", [
    ("llm.timeout_s", BASE + AGENTS + "llm: {timeout_s: .inf}\n"),
    ("llm.backoff_s", BASE + AGENTS + "llm: {backoff_s: .nan}\n"),
    ("agents[0].llm.backoff_max_s", BASE + "agents: [{name: a, kind: ucb, llm: {backoff_max_s: -.inf}}]\n"),
    ("agents[0].params.c", BASE + "agents: [{name: a, kind: ucb, params: {c: .nan}}]\n"),
])
def test_non_finite_numbers_are_refused(tmp_path, capsys, field, text):
    err = _refused(tmp_path, capsys, text)
    assert f"{field}: expected a finite number" in err


def test_a_duplicate_key_is_refused_naming_key_and_line(tmp_path, capsys):
    err = _refused(tmp_path, capsys, BASE + AGENTS + "horizon: 5\nhorizon: 1\n")
    assert "duplicate key 'horizon'" in err and "line 5" in err and "first on line 4" in err
    nested = BASE + "agents: [{name: a, kind: ucb, params: {c: 1, c: 2}}]\n"
    assert "duplicate key 'c'" in _refused(tmp_path, capsys, nested)


def test_merge_keys_may_still_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "agents:\n  - &d {name: a, kind: ucb}\n  - {<<: *d, name: b}\n")
    assert [a.name for a in load_config(path).agents] == ["a", "b"]


def test_an_alias_bomb_is_refused_quickly_without_echoing_it(tmp_path, capsys):
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 7)]
    text = "\n".join(lines) + "\n" + BASE + "agents: *l6\n"
    assert len(text) < 600
    start = time.monotonic()
    err = _refused(tmp_path, capsys, text)
    assert time.monotonic() - start < 3
    assert "too large" in err and "aliases" in err


def test_deep_nesting_is_refused(tmp_path, capsys):
    text = "name: x\nenv: {id: expobench/MAB-hard-v0, kwargs: {k: " + "[" * 200 + "]" * 200 + "}}\n" + AGENTS
    assert "nested deeper than" in _refused(tmp_path, capsys, text)
    text = "name: x\nenv: {id: expobench/MAB-hard-v0, kwargs: {k: " + "[" * 100_000 + "]" * 100_000 + "}}\n"
    assert "nested" in _refused(tmp_path, capsys, text + AGENTS)


def test_too_many_seeds_are_refused_without_echoing_them(tmp_path, capsys):
    seeds = ", ".join(str(i) for i in range(MAX_SEEDS + 1))
    err = _refused(tmp_path, capsys, BASE + AGENTS + f"seeds: [{seeds}]\n")
    assert "seeds:" in err and str(MAX_SEEDS) in err


def test_a_long_bad_value_is_not_echoed_in_full(tmp_path, capsys):
    err = _refused(tmp_path, capsys, BASE + AGENTS + "zzz: " + "a" * 5000 + "\n")
    assert "zzz: unknown field" in err and "a" * 100 not in err
    # the message lists the allowed kinds, so it may be longer; the bad value is cut short
    err = _refused(tmp_path, capsys, BASE + "agents: [{name: a, kind: " + "u" * 5000 + "}]\n", limit=600)
    assert "agents[0].kind" in err and "u" * 100 not in err


@pytest.mark.parametrize("arg, says", [
    ("5-2", "range 5-2 is empty"),
    ("", "expected e.g. 0,1,2 or 0-4"),
    ("0-10000000", f"at most {MAX_SEEDS}"),
    ("1,1", "distinct non-negative"),
    ("0,-3", "distinct non-negative"),
    ("x" * 1000, "expected e.g. 0,1,2 or 0-4"),
])
def test_bad_seeds_option_is_refused_naming_it(tmp_path, capsys, arg, says):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + AGENTS + f"out: {tmp_path / 'out'}\n")
    start = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--print-config", f"--seeds={arg}"])
    assert time.monotonic() - start < 2
    err = capsys.readouterr().err
    assert exc.value.code == 2
    last = err.strip().splitlines()[-1]
    assert "--seeds" in last and says in last and len(last) < 300, err
    assert not (tmp_path / "out").exists()


def test_a_good_seeds_option_still_works(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + AGENTS + f"out: {tmp_path / 'out'}\n")
    assert main(["run", str(path), "--print-config", "--seeds", "3-5"]) == 0
    assert "- 3\n- 4\n- 5\n" in capsys.readouterr().out


@pytest.mark.parametrize("data", [
    (BASE + AGENTS).encode("utf-16"),
    bytes(range(256)),
    b"name: x\x00\n",
])
def test_a_binary_or_utf16_file_is_refused(tmp_path, capsys, data):
    assert "not a UTF-8 text YAML file" in _refused(tmp_path, capsys, data)


def test_an_oversized_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + AGENTS + "# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match="too large") as exc:
        load_config(path)
    assert len(str(exc.value)) < 300


def test_a_valid_config_with_a_utf8_bom_still_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (BASE + AGENTS + "horizon: 7\n").encode())
    assert load_config(path).horizon == 7


def test_every_shipped_config_still_loads_including_anchors():
    paths = sorted(CONFIGS.rglob("*.yaml"))
    assert len(paths) >= 30
    assert any("*id001" in p.read_text() for p in paths)
    for p in paths:
        assert load_config(p).agents


def test_a_long_key_is_not_echoed_in_full(tmp_path, capsys):
    err = _refused(tmp_path, capsys, BASE + AGENTS + "k" * 1000 + ": 1\n")
    assert "unknown field" in err and "k" * 200 not in err
    err = _refused(tmp_path, capsys, BASE + AGENTS + "llm: {extra: {" + "k" * 1000 + ": .inf}}\n")
    assert "llm.extra.kkk" in err and "finite" in err


def test_numpy_numbers_from_the_python_api_are_read_as_the_numbers_they_hold():
    cfg = parse_config({"name": "x", "env": {"id": "expobench/MAB-hard-v0", "kwargs": {"n_arms": np.int64(4)}},
                        "horizon": np.int32(7), "seeds": np.arange(3),
                        "agents": [{"name": "u", "kind": "ucb", "params": {"c": np.float32(1.5)}}]})
    assert (cfg.horizon, cfg.seeds, cfg.env.kwargs, cfg.agents[0].params) == (7, [0, 1, 2], {"n_arms": 4},
                                                                                {"c": 1.5})
    assert type(cfg.horizon) is int and type(cfg.env.kwargs["n_arms"]) is int
    for bad, field in ((np.bool_(True), "horizon"), (np.float64("inf"), "horizon")):
        with pytest.raises(ConfigError, match=field):
            parse_config({"name": "x", "env": {"id": "expobench/MAB-hard-v0"}, field: bad,
                          "agents": [{"name": "u", "kind": "ucb"}]})
