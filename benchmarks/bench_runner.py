"""End-to-end decisions per second of the runner with classical agents (env + agent + run store).

    python benchmarks/bench_runner.py [--horizon 2000] [--seeds 5] [--agent ucb]

Prints decisions/s for lockstep widths 1 and all runs together. The figure is the harness's cost per decision:
the bar the LLM harness is held to (target >= 5,000 decisions/s, negligible next to any LLM call).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from expobench.experiments.config import parse_config
from expobench.experiments.runner import run_experiment


def decisions_per_second(config: dict) -> float:
    """Run the experiment ``config`` (a config mapping with a fresh ``out``) and return its decisions/s."""
    cfg = parse_config(config)
    t0 = time.perf_counter()
    run_experiment(cfg, progress=False).close()
    return cfg.horizon * len(cfg.seeds) * len(cfg.agents) / (time.perf_counter() - t0)


def measure(agent: str, horizon: int, seeds: int, width: int, out: Path) -> float:
    return decisions_per_second({
        "name": "bench", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon, "seeds": list(range(seeds)),
        "agents": [{"name": agent, "kind": agent}], "out": str(out), "batch_width": width,
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--horizon", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--agent", default="ucb")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.agent, 20, 1, 1, Path(tmp) / "warmup")  # imports and first env: not timed
        for width in (1, args.seeds):
            rate = measure(args.agent, args.horizon, args.seeds, width, Path(tmp) / f"w{width}")
            print(f"runner {args.agent}: {args.seeds} runs x {args.horizon} steps, lockstep width {width}: "
                  f"{rate:,.0f} decisions/s")


if __name__ == "__main__":
    main()
