"""The power figures beside every fixed-vs-optimised comparison: what the seeds could detect, and how many seeds a
difference needs (two-sided paired t-test, alpha = 0.05, power 0.8)."""

import numpy as np
import pytest
from scipy import stats

from expobench.experiments.comparisons import (
    compare,
    detectable_difference,
    paired_t_power,
    seeds_needed,
)


def test_power_is_the_size_at_no_effect_and_matches_a_known_value():
    assert paired_t_power(0.0, 10) == pytest.approx(0.05, abs=1e-9)
    # G*Power, paired t (matched pairs), d = 1, n = 10, two-tailed alpha 0.05: power 0.8031
    assert paired_t_power(1.0, 10) == pytest.approx(0.8031, abs=5e-4)
    assert paired_t_power(1.0, 20) > paired_t_power(1.0, 10) > paired_t_power(0.5, 10)


def test_detectable_difference_has_the_stated_power_by_simulation():
    rng = np.random.default_rng(0)
    n, sd = 8, 2.0
    delta = detectable_difference(sd, n)
    trials = rng.normal(delta, sd, size=(20_000, n))
    rejected = stats.ttest_1samp(trials, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.015)
    assert detectable_difference(sd, 2 * n) < delta  # more seeds detect smaller differences
    assert np.isnan(detectable_difference(sd, 1)) and np.isnan(detectable_difference(0.0, 10))


def test_seeds_needed_is_the_first_count_reaching_the_power():
    n = seeds_needed(1.0, 0.5)
    assert paired_t_power(0.5, n) >= 0.8 > paired_t_power(0.5, n - 1)
    assert seeds_needed(3.0, 1.5) == n  # only the ratio matters
    assert seeds_needed(float("nan"), 1.0) is None and seeds_needed(1.0, 1e-4, most=1000) is None


def test_a_comparison_reports_its_power_and_the_seeds_its_difference_needs():
    finals = {"expo": {s: v for s, v in enumerate([3.0, 4.5, 2.0, 5.0, 3.5])},
              "fixed": {s: v for s, v in enumerate([4.0, 4.0, 3.0, 5.5, 4.0])}}
    c = compare(finals, "expo", "fixed")
    d = np.array([-1.0, 0.5, -1.0, -0.5, -0.5])
    assert c.sd == pytest.approx(d.std(ddof=1))
    assert c.detectable == pytest.approx(detectable_difference(d.std(ddof=1), 5))
    text = c.power_text()
    assert f"|Δ| ≥ {c.detectable:.3f}" in text
    assert f"would need {seeds_needed(c.sd, d.mean())} paired seeds" in text
    same = compare({"a": {0: 1.0, 1: 2.0}, "b": {0: 1.0, 1: 2.0}}, "a", "b")
    assert same.identical and "no spread" in same.power_text()


def test_summary_says_how_many_seeds_a_target_difference_needs(tmp_path, capsys):
    from expobench.experiments.cli import main
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import run_experiment

    llm = {"backend": "scripted", "policy": "bandit_best_mean"}
    cfg = parse_config({"name": "p", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 12, "seeds": [0, 1, 2],
                        "agents": [{"name": "fixed", "kind": "llm_bandit", "params": {"design": "BSSN0"}},
                                   {"name": "rnd", "kind": "llm_bandit", "params": {"design": "BSSN0"},
                                    "optimizer": {"kind": "random", "pool": {"n_desc": 2, "n_instr": 2}}}],
                        "llm": llm, "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    assert main(["summary", str(tmp_path / "o"), "--detect", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "rnd − fixed" in out and "to detect a true difference of 0.5 with 80% power:" in out
