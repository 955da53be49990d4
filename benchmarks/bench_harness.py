"""P1 -- harness overhead: end-to-end decisions per second of LLM agents with the scripted, zero-latency backend
(prompt rendering, request building, cache off, parsing, env step, run store), one process.

    python benchmarks/bench_harness.py [--horizon 200] [--seeds 8] [--design BSSND] [--repeats 3]

One short warm-up run (imports, first environment) is not timed; each lockstep width is then timed ``repeats``
times and the median is printed with all values. At ~0.3 s per decision for the embedded model, 5,000
decisions/s means the harness costs under 0.1 % of a run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from bench_runner import decisions_per_second  # sibling script: benchmarks/ is sys.path[0]


def measure(out: Path, horizon: int, seeds: int, width: int, design: str) -> float:
    """Decisions/s of one experiment run into the fresh directory ``out``."""
    return decisions_per_second({
        "name": "p1", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon,
        "seeds": list(range(seeds)), "batch_width": width, "out": str(out),
        "agents": [{"name": "llm", "kind": "llm_bandit", "params": {"design": design}}],
        "llm": {"backend": "scripted", "policy": "bandit_best_mean"}, "cache": {"enabled": False},
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--design", default="BSSND")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        measure(Path(tmp) / "warmup", 20, 1, 1, args.design)
        for width in (1, args.seeds):
            rates = [measure(Path(tmp) / f"w{width}-{r}", args.horizon, args.seeds, width, args.design)
                     for r in range(args.repeats)]
            print(f"P1 scripted llm_bandit {args.design}: {args.seeds} runs x {args.horizon} decisions, "
                  f"lockstep width {width}: {statistics.median(rates):,.0f} decisions/s (median of "
                  f"{', '.join(f'{r:,.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
