"""P1 -- harness overhead: end-to-end decisions per second of LLM agents with the scripted, zero-latency backend
(prompt rendering, request building, cache off, parsing, env step, run store), one process.

    python benchmarks/bench_harness.py [--horizon 200] [--seeds 8] [--design BSSND]

At ~0.3 s per decision for the embedded model, 5,000 decisions/s means the harness costs under 0.1 % of a run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from experiments.config import parse_config
from experiments.runner import run_experiment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--design", default="BSSND")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for width in (1, args.seeds):
            cfg = parse_config({
                "name": "p1", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": args.horizon,
                "seeds": list(range(args.seeds)), "batch_width": width, "out": str(Path(tmp) / f"w{width}"),
                "agents": [{"name": "llm", "kind": "llm_bandit", "params": {"design": args.design}}],
                "llm": {"backend": "scripted", "policy": "bandit_best_mean"}, "cache": {"enabled": False},
            })
            t0 = time.perf_counter()
            run_experiment(cfg, progress=False).close()
            rate = args.horizon * args.seeds / (time.perf_counter() - t0)
            print(f"P1 scripted llm_bandit {args.design}: {args.seeds} runs x {args.horizon} decisions, "
                  f"lockstep width {width}: {rate:,.0f} decisions/s")


if __name__ == "__main__":
    main()
