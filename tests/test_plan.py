"""expobench plan: the cost of a config or sweep without loading a model; its request count is what a run makes,
its token estimate follows the rendered prompts, and the paper-budget plan covers every reproduction config."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from expobench.experiments.config import parse_config
from expobench.experiments.plan import CHARS_PER_TOKEN, plan
from expobench.experiments.runner import run_experiment

ROOT = Path(__file__).resolve().parents[1]


def _cfg(out, horizon=8, design="BSSND"):
    return parse_config({"name": "p", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon, "seeds": [0, 1, 2],
                         "out": str(out), "agents": [{"name": "ucb", "kind": "ucb"},
                                                     {"name": "llm", "kind": "llm_bandit",
                                                      "params": {"design": design}}],
                         "llm": {"backend": "scripted", "policy": "first_choice"}})


def test_plan_counts_the_requests_a_run_makes_and_tokens_from_rendered_prompts(tmp_path):
    for design in ("BSSN0", "BNRN0"):  # summarised history, and the raw history that grows every step
        cfg = _cfg(tmp_path / design, design=design)
        p = plan(cfg, tokens_per_s=100.0, prompt_tokens_per_s=1000.0, fit_s=0.0, workers=2)
        run_experiment(cfg, progress=False).close()
        db = sqlite3.connect(tmp_path / design / "runs.sqlite")
        calls = db.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]
        assert p.runs == 6 and p.steps == 6 * 8 and p.requests == calls == 3 * 8  # one request per decision
        # rendered prompt characters of the real run, from the scripted backend's view of the requests
        from expobench.agents.llm.scripted import ScriptedBackend

        seen: list = []
        real = ScriptedBackend.generate

        def recording(self, reqs, seen=seen, real=real):
            seen.extend(reqs)
            return real(self, reqs)

        ScriptedBackend.generate = recording
        try:
            run_experiment(_cfg(tmp_path / f"{design}-again", design=design), progress=False, use_cache=False).close()
        finally:
            ScriptedBackend.generate = real
        actual = sum(len(m.content) for r in seen for m in r.messages) / CHARS_PER_TOKEN
        assert abs(p.prompt_tokens - actual) / actual < 0.15, (design, p.prompt_tokens, actual)
        assert p.wall_s == (p.prompt_tokens / 1000 + p.generated_tokens / 100) / 2


def test_plan_counts_the_steps_an_evaluation_budget_leaves(tmp_path, tsp_with_baseline):
    """With `evaluations`, an LLM optimiser with 4 proposals per step stops after a quarter of the baseline's steps;
    the plan counts the steps and requests the run makes, not `horizon` of each."""
    cfg = tsp_with_baseline(tmp_path / "o", horizon=12, evaluations=12)
    p = plan(cfg, fit_s=0.0)
    run_experiment(cfg, progress=False).close()
    db = sqlite3.connect(tmp_path / "o" / "runs.sqlite")
    assert p.steps == db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 2 * (12 + 3)
    assert p.requests == db.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0] == 2 * 3 * 4


def test_plan_cli_loads_no_model_and_prints_every_paper_config():
    code = ("import sys; from expobench.experiments.cli import main; rc = main(['plan', "
            f"'{ROOT}/experiments/configs/reproduce/paper', '--json', '--tokens-per-s', '2000', "
            "'--prompt-tokens-per-s', '20000', '--workers', '8']); "
            "assert 'llama_cpp' not in sys.modules and 'vllm' not in sys.modules; sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    plans = json.loads(out.stdout)
    configs = sorted((ROOT / "experiments" / "configs" / "reproduce" / "paper").glob("*.yaml"))
    assert len(plans) == len(configs)
    for p in plans:
        assert p["runs"] > 0 and p["workers"] == min(8, p["runs"]) and p["wall_s"] > 0
        llm = [a for a in p["agents"] if a["requests"]]
        assert llm and p["prompt_tokens"] > 0 and p["generated_tokens"] > 0, p["name"]
