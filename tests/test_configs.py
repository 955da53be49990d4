"""Every shipped config validates, and the reproduction set gives every claim at both budgets."""

from pathlib import Path

import pytest

from expobench.experiments.config import load_config

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


def test_imports_register_user_classes_before_validation(tmp_path):
    from expobench.agents.registry import AGENTS
    from expobench.experiments.errors import ConfigError

    (tmp_path / "my_agents_mod.py").write_text(
        "from expobench.agents.bandit import RandomAgent\nfrom expobench.agents.registry import register_agent\n\n"
        "@register_agent\nclass Mine(RandomAgent):\n    kind = 'my_random'\n")
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("imports: [my_agents_mod]\nname: x\nenv: {id: expobench/MAB-hard-v0}\n"
                        "agents: [{name: a, kind: my_random}]\n")
    try:
        assert load_config(cfg_path).agents[0].kind == "my_random"
    finally:
        AGENTS.pop("my_random", None)
    cfg_path.write_text("imports: [no_such_module_xyz]\nname: x\nenv: {id: expobench/MAB-hard-v0}\n"
                        "agents: [{name: a, kind: random}]\n")
    with pytest.raises(ConfigError, match="imports: cannot import 'no_such_module_xyz'"):
        load_config(cfg_path)
