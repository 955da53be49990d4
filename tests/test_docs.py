"""The documentation stays true: the generated configuration reference is current."""

from pathlib import Path

from expobench.experiments.config_reference import render_reference

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_current():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == render_reference(), (
        "docs/config.md is stale: run `python -m expobench.experiments.config_reference docs/config.md`")


def test_extending_guide_code_runs(tmp_path):
    """docs/extending.md's Python blocks, run in order in one namespace (OUT = a scratch directory)."""
    import re

    text = (ROOT / "docs" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    import gymnasium as gym

    from expobench.agents.registry import AGENTS
    from expobench.metaopt.registry import OPTIMIZERS

    namespace = {"OUT": tmp_path, "__name__": "docs_extending"}
    try:
        exec(compile("\n".join(blocks), "docs/extending.md", "exec"), namespace)
        assert "grid_search" in AGENTS and "eps_greedy_pool" in OPTIMIZERS
    finally:  # leave the registries as the rest of the suite expects them
        AGENTS.pop("grid_search", None)
        OPTIMIZERS.pop("eps_greedy_pool", None)
        gym.registry.pop("mylab/Quadratic-v0", None)
        gym.registry.pop("mylab/Corridor-v0", None)
