"""Kill an experiment with SIGKILL mid-run, resume it, and compare with an uninterrupted run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

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


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    cfg = {
        "name": "crash",
        "env": {"id": "expobench/MAB-hard-v0"},
        "horizon": 1500,
        "seeds": [0, 1],
        "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ts", "kind": "thompson"},
                   {"name": "exp3", "kind": "exp3"}],
        "batch_width": 2,
    }
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    total = 1500 * 6
    kill_after(config, tmp_path / "killed", min_steps=1000, total=total)
    assert run_cli(config, tmp_path / "killed").wait() == 0
    assert run_cli(config, tmp_path / "clean").wait() == 0
    assert store_rows(tmp_path / "killed") == store_rows(tmp_path / "clean")
