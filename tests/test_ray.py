"""The Ray executor on a real local Ray cluster (started once for this module): its stores equal the local
executor's, with the embedded SmolLM2 model per actor; an actor killed mid-run loses nothing; a driver killed with
SIGKILL resumes when the same command runs again; a cluster without the resources asked for is refused at once."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from expobench.experiments.config import parse_config
from expobench.experiments.errors import ConfigError
from expobench.experiments.metrics import summarize
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore
from tests.test_ray_units import store_rows

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs; yields its address for other processes."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def summary(out: Path):
    """The summary table without the evaluated prompt tokens per decision: an engine statistic that depends on
    which prompts the engine saw before (its KV prefix reuse), not a result."""
    with RunStore(out, create=False) as store:
        return [{k: v for k, v in s.to_json().items() if k != "eval_tok/dec"} for s in summarize(store)]


def config(out: Path, kind: str, **fields) -> dict:
    cfg = {"name": "r", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 3, "seeds": [0, 1], "out": str(out),
           "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ts", "kind": "thompson"}],
           "executor": {"kind": kind, "workers": 2}}
    cfg.update(fields)
    return cfg


@pytest.mark.llm
def test_ray_run_with_smollm2_per_actor_equals_the_local_run(cluster, tmp_path):
    """SmolLM2 per actor, with a fixed prompt and with EXPO (MiniLM embeddings, the paper-sized score network):
    the same steps row for row as the local run, whose engine and networks use both cores."""
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    llm = {"backend": "llamacpp", "model": "smollm2-135m-instruct", "n_ctx": 2048}
    pool = tmp_path / "pool.json"
    agents = [{"name": "ucb", "kind": "ucb"}, {"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSND"}},
              {"name": "expo", "kind": "llm_bandit", "params": {"design": "BSSND"},
               "optimizer": {"kind": "expo", "params": {"eta": 10}, "pool": {"path": str(pool)}}}]
    for kind in ("local", "ray"):
        cfg = config(tmp_path / kind, kind, agents=agents, llm=llm, horizon=3)
        if not pool.exists():
            parsed = parse_config(cfg)
            base = base_meta_prompt_for(parsed, parsed.agents[1])
            CandidatePool([base.description, "Five buttons; one pays more.", "Find the best of five buttons."],
                          [base.instruction, "Give a probability for each button.", "Answer with probabilities."]
                          ).save(pool)
        run_experiment(parse_config(cfg), progress=False).close()
    local, on_ray = store_rows(tmp_path / "local"), store_rows(tmp_path / "ray")
    assert len(local[1]) == 18 and len(local[2]) >= 12  # 6 runs x 3 steps; 4 LLM runs x 3 steps, with re-asks
    assert on_ray == local
    assert summary(tmp_path / "ray") == summary(tmp_path / "local")


HORIZON = 400


def _scripted_expo(tmp_path: Path, out: Path, executor: str) -> dict:
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    pool = tmp_path / "pool.json"
    agents = [{"name": "ucb", "kind": "ucb"},
              {"name": "expo", "kind": "llm_bandit", "params": {"design": "BSSND"},
               "optimizer": {"kind": "expo", "params": {"eta": 10, "hidden": 16, "steps": 5},
                             "pool": {"path": str(pool)}}}]
    # long enough that worker 0 is still running when the driver applies step 15 of its first run, also on an
    # idle machine (with 40 steps a worker could finish before its first results reached the driver)
    cfg = config(out, executor, agents=agents, horizon=HORIZON, llm={"backend": "scripted",
                                                                    "policy": "bandit_best_mean"})
    if not pool.exists():
        parsed = parse_config(cfg)
        base = base_meta_prompt_for(parsed, parsed.agents[1])
        CandidatePool([base.description, "Five buttons; one pays more."],
                      [base.instruction, "Give a probability for each button."]).save(pool)
    return cfg


def test_an_actor_killed_mid_run_loses_nothing(cluster, tmp_path):
    """Worker 0 is killed once the driver holds some of its steps: a fresh actor resumes its runs from their last
    step the driver holds (replayed, EXPO's state rebuilt), and the store equals the uninterrupted local run's."""
    cfg = parse_config(_scripted_expo(tmp_path, tmp_path / "ray", "ray"))
    killed = []

    def kill_worker0(run_id, t):
        # runs are dealt round-robin: the first run (ucb seed 0) belongs to worker 0
        if not killed and run_id.endswith("ucb__0") and t == 15:
            name = f"expobench.{cfg.name}.{os.getpid()}.w0"
            ray.kill(ray.get_actor(name))
            killed.append(name)

    from expobench.experiments import ray_executor

    restarts = []
    real_run = ray_executor.RayExecutor.run

    def run_and_count(self, *a, **k):
        try:
            return real_run(self, *a, **k)
        finally:
            restarts.append(self.restarts)

    ray_executor.RayExecutor.run = run_and_count
    try:
        run_experiment(cfg, progress=False, on_step=kill_worker0).close()
    finally:
        ray_executor.RayExecutor.run = real_run
    assert killed and restarts == [1]
    run_experiment(parse_config(_scripted_expo(tmp_path, tmp_path / "local", "local")), progress=False).close()
    on_ray, local = store_rows(tmp_path / "ray"), store_rows(tmp_path / "local")
    assert len(local[1]) == 4 * HORIZON
    assert on_ray == local


def test_driver_sigkill_then_the_same_command_resumes(cluster, tmp_path):
    """The driver (expobench run --executor ray, joined to this cluster) is killed with SIGKILL mid-run; running
    the same command again finishes the experiment with nothing lost or duplicated."""
    cfg = config(tmp_path / "unused", "ray", horizon=20_000, batch_width=1)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "expobench.experiments", "run", "--quiet", str(path), "--out", str(out),
           "--address", cluster]

    def committed() -> int:
        try:
            with sqlite3.connect(out / "runs.sqlite", timeout=1) as db:
                return db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        except sqlite3.Error:
            return 0

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while committed() < 2000:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < committed() < 4 * 20_000
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    run_experiment(parse_config(config(tmp_path / "local", "local", horizon=20_000)), progress=False).close()
    killed, local = store_rows(out), store_rows(tmp_path / "local")
    assert len(local[1]) == 4 * 20_000 and killed == local


def test_a_cluster_without_the_resources_is_refused_before_any_work(cluster, tmp_path):
    gpu = config(tmp_path / "gpu", "ray", executor={"kind": "ray", "resources_per_worker": {"num_gpus": 1}})
    with pytest.raises(ConfigError, match=r"executor\.resources_per_worker: no node .*num_gpus"):
        run_experiment(parse_config(gpu), progress=False)
    many = config(tmp_path / "many", "ray", executor={"kind": "ray", "workers": 3})
    with pytest.raises(ConfigError, match=r"executor\.workers: the Ray cluster has room for 2 worker"):
        run_experiment(parse_config(many), progress=False)
    assert not (tmp_path / "gpu").exists() and not (tmp_path / "many").exists()
