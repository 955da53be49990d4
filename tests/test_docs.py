"""The documentation stays true: the generated configuration reference is current."""

from pathlib import Path

from experiments.config_reference import render_reference

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_current():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == render_reference(), (
        "docs/config.md is stale: run `python -m experiments.config_reference docs/config.md`")
