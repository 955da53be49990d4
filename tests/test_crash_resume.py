
"""Kill an experiment with SIGKILL mid-run, resume it, and compare with an uninterrupted run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def store_rows(out: Path):
    db = sqlite3.connect(out / "runs.sqlite")
    steps = db.execute("SELECT run_id, t, action, reward, expected_reward, optimal_expected_reward, optimal_action,"
                       " record FROM steps ORDER BY run_id, t").fetchall()
    calls = db.execute("SELECT run_id, t, seq, role, request_hash, text FROM llm_calls ORDER BY run_id, t, seq"
                       ).fetchall()
    runs = db.execute("SELECT run_id, status, steps_done FROM runs ORDER BY run_id").fetchall()
    db.close()
    return steps, calls, runs


def committed_steps(out: Path) -> int:
    try:
        db = sqlite3.connect(out / "runs.sqlite", timeout=1)
        n = db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        db.close()
        return n
    except sqlite3.Error:
        return 0


def run_cli(config: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "experiments", "run", "--quiet", str(config), "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after(config: Path, out: Path, min_steps: int, total: int) -> None:
    proc = run_cli(config, out)
    deadline = time.time() + 120
    while committed_steps(out) < min_steps:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "experiment made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < committed_steps(out) < total, "the kill must land mid-experiment"


def killed_and_clean(cfg: dict, tmp_path: Path, min_steps: int, total: int):
    """Store rows of the config killed mid-run then resumed, and of an uninterrupted run."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    kill_after(config, tmp_path / "killed", min_steps=min_steps, total=total)
    assert run_cli(config, tmp_path / "killed").wait() == 0
    assert run_cli(config, tmp_path / "clean").wait() == 0
    return store_rows(tmp_path / "killed"), store_rows(tmp_path / "clean")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    cfg = {
        "name": "crash",
        "env": {"id": "expobench/MAB-hard-v0"},
        # long enough that the kill lands mid-run: the runner does tens of thousands of classical steps per second
        # and commits them in groups every 0.2 s
        "horizon": 10_000,
        "seeds": [0, 1],
        "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ts", "kind": "thompson"},
                   {"name": "exp3", "kind": "exp3"}],
        "batch_width": 2,
    }
    killed, clean = killed_and_clean(cfg, tmp_path, min_steps=1000, total=10_000 * 6)
    assert killed == clean


@pytest.mark.slow
def test_sigkill_mid_run_with_llm_agents_and_expo_then_resume_equals_uninterrupted(tmp_path):
    """LLM agents (scripted backend, response cache on) and an EXPO run whose optimiser state (running sums,
    score-network data, rng) must be rebuilt exactly on resume."""
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    pool = tmp_path / "pool.json"
    cfg = {
        "name": "crash-llm",
        "env": {"id": "expobench/MAB-hard-v0"},
        "horizon": 60,
        "seeds": [0, 1],
        "agents": [{"name": "ucb", "kind": "ucb"},
                   {"name": "fixed", "kind": "llm_bandit", "params": {"design": "BSSND"}},
                   {"name": "expo", "kind": "llm_bandit", "params": {"design": "BSSND"},
                    "optimizer": {"kind": "expo", "params": {"eta": 10, "hidden": 16, "steps": 5},
                                  "pool": {"path": str(pool)}}}],
        "llm": {"backend": "scripted", "policy": "bandit_best_mean"},
        "batch_width": 6,
    }
    base = base_meta_prompt_for(parse_config(cfg), parse_config(cfg).agents[2])
    CandidatePool([base.description, "Five buttons; one pays more.", "Find the best of five buttons."],
                  [base.instruction, "Give a probability for each button."]).save(pool)
    total = 60 * 6
    killed, clean = killed_and_clean(cfg, tmp_path, min_steps=90, total=total)
    import json

    def without_cache_accounting(rows):
        # a step asked before the kill but not committed is answered from the response cache on resume: the
        # decision is the same, only the step's cache-hit count differs
        steps, calls, runs = rows
        strip = [(*r[:-1], json.dumps({k: v for k, v in json.loads(r[-1]).items() if k != "cache_hits"}))
                 for r in steps]
        return strip, calls, runs

    assert len(killed[0]) == total and without_cache_accounting(killed) == without_cache_accounting(clean)

    chosen = {(json.loads(r[-1])["mp_ids"]["d"], json.loads(r[-1])["mp_ids"]["i"]) for r in killed[0]
              if r[0].startswith("MAB-hard-v0__expo")}
    assert len(chosen) > 1  # the optimiser did move between candidates


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_the_resume_message_and_resumes_exactly(tmp_path):
    cfg = {"name": "term", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 10_000, "seeds": [0, 1],
           "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ts", "kind": "thompson"}], "batch_width": 2}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = run_cli(config, tmp_path / "term")
    deadline = time.time() + 120
    while committed_steps(tmp_path / "term") < 1000:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 143
    err = proc.stderr.read().decode()
    assert "terminated (SIGTERM); committed steps are kept; run the same command again to resume." in err
    assert "Traceback" not in err
    assert 0 < committed_steps(tmp_path / "term") < 10_000 * 4
    assert run_cli(config, tmp_path / "term").wait() == 0
    assert run_cli(config, tmp_path / "clean").wait() == 0
    assert store_rows(tmp_path / "term") == store_rows(tmp_path / "clean")


def test_progress_is_a_plain_line_when_stderr_is_not_a_terminal(tmp_path):
    cfg = {"name": "plain", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 50, "seeds": [0],
           "agents": [{"name": "ucb", "kind": "ucb"}]}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPOBENCH_PROGRESS_INTERVAL": "0"}
    done = subprocess.run([sys.executable, "-m", "experiments", "run", str(config), "--out", str(tmp_path / "o")],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("plain: ")]
    assert lines and lines[-1].startswith("plain: 50/50 decisions (100 %)")
    assert "\x1b[" not in done.stderr  # no terminal control sequences in a log file
