"""The HTML report renders in headless Chromium: a screenshot is taken and the page holds the expected decoded plots,
tables and meta-prompt sections. Needs Debian's chromium + chromium-driver (the Makefile installs them where apt
is available) and selenium; skipped otherwise."""

import shutil

import numpy as np
import pytest

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver")


def _experiment(tmp_path):
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import base_meta_prompt_for, run_experiment
    from expobench.metaopt.pools import CandidatePool

    agents = [{"name": "ucb", "kind": "ucb"},
              {"name": "fixed", "kind": "llm_bandit", "params": {"design": "BSSN0"}},
              {"name": "rnd", "kind": "llm_bandit", "params": {"design": "BSSN0"},
               "optimizer": {"kind": "random", "pool": {"path": str(tmp_path / "pool.json")}}}]
    cfg = parse_config({"name": "browser", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 10, "seeds": [0, 1, 2],
                        "agents": agents, "llm": {"backend": "scripted", "policy": "bandit_best_mean"},
                        "out": str(tmp_path / "o")})
    base = base_meta_prompt_for(cfg, cfg.agents[1])
    CandidatePool([base.description, "Five buttons; find the best."], [base.instruction, "Name one button."]
                  ).save(tmp_path / "pool.json")
    run_experiment(cfg, progress=False).close()
    return tmp_path / "o"


def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from expobench.experiments.report import write_report

    html_path, _ = write_report([_experiment(tmp_path)], tmp_path / "report")
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.get(html_path.resolve().as_uri())
        plots = driver.execute_script(
            "return [...document.querySelectorAll('img.plot')].map(i => [i.alt, i.complete, i.naturalWidth])")
        headings = driver.execute_script("return [...document.querySelectorAll('h2, h3')].map(h => h.textContent)")
        rows = driver.execute_script("return document.querySelectorAll('table tbody tr').length")
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert sorted(p[0] for p in plots) == ["optimizer", "regret"]
    assert all(complete and width > 100 for _, complete, width in plots)  # embedded PNGs decoded
    assert "browser" in headings and "Fixed vs optimised meta-prompt" in headings
    assert "Best meta-prompts found by rnd" in headings
    assert rows >= 3 + 1  # one row per agent, one comparison row
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape[0] > 500 and img.std() > 5  # not a blank page
