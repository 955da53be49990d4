"""P1 -- harness overhead: end-to-end decisions per second of LLM agents with the scripted, zero-latency backend
(prompt rendering, request building, cache off, parsing, env step, run store), one process.

    python benchmarks/bench_harness.py [--horizon 200] [--seeds 8] [--design BSSND] [--repeats 3]
    python benchmarks/bench_harness.py --optimizer expo --horizon 25     # EXPO on: old vs new update

One short warm-up run (imports, first environment) is not timed; each lockstep width is then timed ``repeats``
times and the median is printed with all values. At ~0.3 s per decision for the embedded model, 5,000
decisions/s means the harness costs under 0.1 % of a run.

With ``--optimizer expo`` every run's meta-prompt comes from EXPO over the shipped BSSND pool (MiniLM embeddings,
hidden width 3,072, 50 Adam steps per update): each width is timed with the previous update (the reference fit on
every raw row, one run at a time) and the current one (fit on distinct inputs, runs in lockstep batched), in
alternation, so the two figures come from one session.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from bench_runner import decisions_per_second  # sibling script: benchmarks/ is sys.path[0]


def measure(out: Path, horizon: int, seeds: int, width: int, design: str, optimizer: str | None = None) -> float:
    """Decisions/s of one experiment run into the fresh directory ``out``."""
    agent: dict[str, Any] = {"name": "llm", "kind": "llm_bandit", "params": {"design": design}}
    if optimizer is not None:
        agent["optimizer"] = {"kind": optimizer}
    return decisions_per_second({
        "name": "p1", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon,
        "seeds": list(range(seeds)), "batch_width": width, "out": str(out), "agents": [agent],
        "llm": {"backend": "scripted", "policy": "bandit_best_mean"}, "cache": {"enabled": False},
    })


@contextmanager
def previous_expo_update() -> Iterator[None]:
    """EXPO's update as it was: the reference fit on every raw row, each run on its own."""
    from expobench.metaopt import expo

    saved = expo.EXPO.update, expo.can_update_together

    def update(self: Any, score: float, info: dict[str, Any]) -> None:
        self.rows.append((*self.choice, float(score)))
        if self.params.use_exemplar_embedding:
            self.row_e.append(self.last_e)
        self.finish_update([self.fit_reference()])

    expo.EXPO.update, expo.can_update_together = update, lambda optimizer: False
    try:
        yield
    finally:
        expo.EXPO.update, expo.can_update_together = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--design", default="BSSND")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--optimizer", choices=["expo"], help="the runs' meta-prompt optimiser (default: none)")
    args = ap.parse_args()
    if args.optimizer:
        return optimised(args)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        measure(Path(tmp) / "warmup", 20, 1, 1, args.design)
        for width in (1, args.seeds):
            rates = [measure(Path(tmp) / f"w{width}-{r}", args.horizon, args.seeds, width, args.design)
                     for r in range(args.repeats)]
            print(f"P1 scripted llm_bandit {args.design}: {args.seeds} runs x {args.horizon} decisions, "
                  f"lockstep width {width}: {statistics.median(rates):,.0f} decisions/s (median of "
                  f"{', '.join(f'{r:,.0f}' for r in rates)})")


def optimised(args: argparse.Namespace) -> None:
    """The harness with an optimiser on, previous vs current update alternated per repeat (all torch threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        measure(Path(tmp) / "warmup", 3, 1, 1, args.design, args.optimizer)
        for width in (1, args.seeds):
            rates: dict[str, list[float]] = {"previous": [], "current": []}
            for r in range(args.repeats):
                for name in rates:
                    with previous_expo_update() if name == "previous" else nullcontext():
                        rates[name].append(measure(Path(tmp) / f"{name}-w{width}-{r}", args.horizon, args.seeds,
                                                   width, args.design, args.optimizer))
            for name, values in rates.items():
                print(f"P1 scripted llm_bandit {args.design} + {args.optimizer} ({name} update): {args.seeds} runs x "
                      f"{args.horizon} decisions, lockstep width {width}: {statistics.median(values):,.1f} "
                      f"decisions/s (median of {', '.join(f'{v:,.1f}' for v in values)})")


if __name__ == "__main__":
    main()
