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
        assert load_config(cfg_path, trust_imports=True).agents[0].kind == "my_random"
    finally:
        AGENTS.pop("my_random", None)
    cfg_path.write_text("imports: [no_such_module_xyz]\nname: x\nenv: {id: expobench/MAB-hard-v0}\n"
                        "agents: [{name: a, kind: random}]\n")
    with pytest.raises(ConfigError, match="imports: cannot import 'no_such_module_xyz'"):
        load_config(cfg_path, trust_imports=True)


def test_a_configs_imports_run_only_when_trusted(tmp_path, monkeypatch, capsys):
    from expobench.experiments.cli import main
    from expobench.experiments.errors import ConfigError

    marker = tmp_path / "ran"
    (tmp_path / "side_effect_mod.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("imports: [side_effect_mod]\nname: x\nenv: {id: expobench/MAB-hard-v0}\nhorizon: 2\n"
                        f"agents: [{{name: a, kind: random}}]\nout: {tmp_path / 'o'}\n")
    monkeypatch.delenv("EXPOBENCH_TRUST_IMPORTS", raising=False)
    with pytest.raises(ConfigError, match="--trust-imports"):
        load_config(cfg_path)
    for extra in ([], ["--print-config"]):
        assert main(["run", str(cfg_path), *extra]) == 2
        assert "would run code from this config" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "o").exists()  # nothing imported, nothing written
    assert main(["run", str(cfg_path), "--trust-imports", "--quiet"]) == 0
    assert marker.read_text() == "ran"
    marker.unlink()
    import sys

    sys.modules.pop("side_effect_mod", None)
    monkeypatch.setenv("EXPOBENCH_TRUST_IMPORTS", "1")
    load_config(cfg_path)
    assert marker.exists()


def test_env_without_a_declared_metric_is_refused_before_any_work(tmp_path, capsys):
    import gymnasium as gym

    from expobench.envs.bandits import MeansBandit
    from expobench.experiments.cli import main

    class Undeclared(MeansBandit):
        metadata = {"render_modes": []}

    gym.register(id="mylab/Undeclared-v0", entry_point=Undeclared, kwargs={"means": [0.2, 0.8]})
    try:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"name: x\nenv: {{id: mylab/Undeclared-v0}}\nout: {tmp_path / 'out'}\n"
                       "agents: [{name: a, kind: ucb}]\n")
        assert main(["run", str(cfg), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "mylab/Undeclared-v0" in err and "declares no headline metric" in err and "expobench.metric" in err
        assert not (tmp_path / "out").exists()
    finally:
        gym.registry.pop("mylab/Undeclared-v0", None)


def test_stored_results_keep_their_metric_without_the_env_code(tmp_path):
    """A store names its metric, so summaries read correctly where the env's registering module is not loaded."""
    import gymnasium as gym

    from expobench.envs.bandits import MeansBandit
    from expobench.experiments.config import parse_config
    from expobench.experiments.metrics import summarize
    from expobench.experiments.runner import run_experiment

    class Declared(MeansBandit):
        metadata = {"render_modes": [], "expobench.metric": "cumulative_regret"}

    gym.register(id="mylab/Declared-v0", entry_point=Declared, kwargs={"means": [0.2, 0.8]})
    try:
        cfg = parse_config({"name": "x", "env": {"id": "mylab/Declared-v0"}, "horizon": 10, "out": str(tmp_path),
                            "agents": [{"name": "a", "kind": "ucb"}]})
        run_experiment(cfg, progress=False).close()
    finally:
        gym.registry.pop("mylab/Declared-v0", None)
    from expobench.experiments.store import RunStore

    with RunStore(tmp_path, create=False) as store:
        assert store.get_meta("metric") == "cumulative_regret"
        (summary,) = summarize(store)
        assert summary.metric == "cumulative_regret" and summary.runs == 1


@pytest.mark.parametrize("config, agent, pool", [
    ("demo.yaml", "llm_fixed", "MAB-K5-T25-BSSN0.json"),
    ("mdp.yaml", "llm_fixed", "FrozenLake4x4-H16-SSN0.json"),
])
def test_shipped_pools_are_found_for_their_configs(config, agent, pool):
    """A shipped pool is used when its originals are exactly the agent's (D0, I0), so a change to a task's text
    would silently send its runs back to generating a pool: each shipped pool still matches its config."""
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import SHIPPED, CandidatePool, find_shipped_pool

    cfg = load_config(CONFIGS / config)
    base = base_meta_prompt_for(cfg, next(a for a in cfg.agents if a.name == agent))
    found = find_shipped_pool(base.description, base.instruction)
    assert found is not None and found.descriptions == CandidatePool.load(SHIPPED / pool).descriptions
    assert len(found.descriptions) == len(found.instructions) == 13
