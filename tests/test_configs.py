"""Every shipped config validates, and the reproduction set gives every claim at both budgets."""

from pathlib import Path

import pytest

from experiments.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
ALL = sorted(CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize("path", ALL, ids=[str(p.relative_to(CONFIGS)) for p in ALL])
def test_config_validates(path):
    cfg = load_config(path)
    assert cfg.agents and cfg.horizon >= 1


def test_reproduction_budgets_cover_the_same_claims():
    cpu = {p.name for p in (CONFIGS / "reproduce" / "cpu").glob("*.yaml")}
    paper = {p.name for p in (CONFIGS / "reproduce" / "paper").glob("*.yaml")}
    assert cpu == paper and len(cpu) >= 15
    for name in cpu:
        c, p = load_config(CONFIGS / "reproduce" / "cpu" / name), load_config(CONFIGS / "reproduce" / "paper" / name)
        assert [a.name for a in c.agents] == [a.name for a in p.agents]
        assert c.llm.backend == "llamacpp" and p.llm.backend == "vllm"
        assert p.horizon >= c.horizon and len(p.seeds) >= len(c.seeds)
