"""Steady-state decisions per second of the runner with a classical agent over lockstep runs, every step durably
stored — the figure compared with BanditBench's in-memory loop (UCB on a 20-arm instance, 20 runs).

    python benchmarks/bench_steady.py [--agent ucb] [--runs 20] [--arms 20] [--short 1000] [--long 5000]

Start-up (imports, env creation, the store) is excluded: the figure is runs x (long - short) decisions over the
wall-time difference of a long and a short run of the same experiment. Also prints the one-by-one path (the
batched path off) in the same session, as the ratio to compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from expobench.experiments import runner
from expobench.experiments.config import parse_config


def wall(agent: str, runs: int, arms: int, horizon: int, out: Path) -> float:
    means = [0.5] * (arms - 1) + [0.6]
    cfg = parse_config({"name": "steady", "env": {"id": "expobench/MAB-v0", "kwargs": {"means": means}},
                        "horizon": horizon, "seeds": list(range(runs)), "batch_width": runs, "out": str(out),
                        "agents": [{"name": agent, "kind": agent}]})
    t0 = time.perf_counter()
    runner.run_experiment(cfg, progress=False).close()
    return time.perf_counter() - t0


def steady_rate(agent: str, runs: int, arms: int, short: int, long: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        a = wall(agent, runs, arms, short, Path(tmp) / "short")
        b = wall(agent, runs, arms, long, Path(tmp) / "long")
    return runs * (long - short) / (b - a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--agent", default="ucb")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--arms", type=int, default=20)
    ap.add_argument("--short", type=int, default=1000)
    ap.add_argument("--long", type=int, default=5000)
    args = ap.parse_args()
    for batched in (True, False):
        runner.BATCHED = batched
        rate = steady_rate(args.agent, args.runs, args.arms, args.short, args.long)
        print(f"steady {args.agent}: {args.runs} lockstep runs x {args.arms} arms, "
              f"{'batched' if batched else 'one by one'}: {rate:,.0f} decisions/s")


if __name__ == "__main__":
    main()
