"""A local Ray cluster with 2 workers vs the local executor on the same experiments: wall time and ratio.

    python benchmarks/bench_ray.py [--horizon-classical 5000] [--horizon-llm 4] [--seeds 4]

Two experiments: classical bandit agents (UCB, Thompson sampling, EXP3) on MAB-hard, and an LLM agent (the
embedded SmolLM2-135M through llama.cpp, design BSSN0) beside UCB. Each runs once with ``--executor local`` (one
process, the engine on all cores) and once on a local Ray cluster of 2 CPUs with 2 workers (each actor its own
engine on 1 core), into fresh directories, without the response cache; the Ray time includes starting the actors
and loading a model in each, not starting the cluster. The stores are compared (steps, without timing fields).
Prints one JSON line per experiment: seconds local, seconds on Ray, ratio (Ray / local), stores equal.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path


def _steps(out: Path) -> list[tuple]:
    db = sqlite3.connect(out / "runs.sqlite")
    rows = []
    for r in db.execute("SELECT run_id, t, action, reward, record FROM steps ORDER BY run_id, t"):
        record = {k: v for k, v in json.loads(r[-1]).items() if k not in ("latency_s", "cache_hits")}
        rows.append((*r[:-1], json.dumps(record, sort_keys=True)))
    db.close()
    return rows


def _timed(cfg: dict, out: Path) -> float:
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import run_experiment

    t0 = time.perf_counter()
    run_experiment(parse_config({**cfg, "out": str(out)}), use_cache=False, progress=False).close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon-classical", type=int, default=5000)
    ap.add_argument("--horizon-llm", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    seeds = list(range(args.seeds))
    experiments = {
        "classical": {"name": "bench-classical", "env": {"id": "expobench/MAB-hard-v0"},
                      "horizon": args.horizon_classical, "seeds": seeds,
                      "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ts", "kind": "thompson"},
                                 {"name": "exp3", "kind": "exp3"}]},
        "smollm2": {"name": "bench-smollm2", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": args.horizon_llm,
                    "seeds": seeds, "agents": [{"name": "ucb", "kind": "ucb"},
                                               {"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSN0"}}],
                    "llm": {"backend": "llamacpp", "model": "smollm2-135m-instruct", "n_ctx": 2048}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in experiments.items():
            os.environ.pop("EXPOBENCH_LLM_THREADS", None)  # local: the engine on every core
            local = _timed({**cfg, "executor": {"kind": "local"}}, Path(tmp) / f"{name}-local")
            on_ray = _timed({**cfg, "executor": {"kind": "ray", "workers": 2,
                                                 "resources_per_worker": {"num_cpus": 1}}},
                            Path(tmp) / f"{name}-ray")
            equal = _steps(Path(tmp) / f"{name}-local") == _steps(Path(tmp) / f"{name}-ray")
            print(json.dumps({"experiment": name, "runs": len(cfg["agents"]) * len(seeds), "horizon": cfg["horizon"],
                              "local_s": round(local, 2), "ray_s": round(on_ray, 2),
                              "ratio_ray_over_local": round(on_ray / local, 3), "stores_equal": equal,
                              "cpus": os.cpu_count()}), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
