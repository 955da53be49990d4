"""Batching with vLLM: decisions/s of an LLM bandit experiment with 16 runs advanced one at a time (lockstep
width 1) vs all 16 together (width 16: one vLLM call per step for all runs). Cache off; engine started once and
warmed up before timing.

    EXPOBENCH_VLLM_MODEL=DIR python benchmarks/bench_vllm.py [--horizon 5] [--runs 16]

On this CPU: run it in the ``make test-vllm`` venv (``.venv-vllm/bin/python``) with the converted SmolLM2
directory (``cat .venv-vllm/model-dir``) and ``VLLM_CPU_KVCACHE_SPACE=1``. On a GPU: any model directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--design", default="BSSN0")
    args = ap.parse_args()
    model = os.environ["EXPOBENCH_VLLM_MODEL"]

    from expobench.agents.llm.config import LLMConfig, make_client
    from expobench.agents.llm.types import LLMRequest, chat
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import run_experiment

    llm = {"backend": "vllm", "model": model, "extra": {"enforce_eager": True, "max_model_len": 2048}}
    make_client(LLMConfig(**llm)).generate([LLMRequest(chat(None, "Hello"), max_tokens=4)])  # start + warm up
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for width in (1, args.runs):
            cfg = parse_config({
                "name": "vllm-batch", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": args.horizon,
                "seeds": list(range(args.runs)), "batch_width": width, "out": str(Path(tmp) / f"w{width}"),
                "agents": [{"name": "llm", "kind": "llm_bandit", "params": {"design": args.design}}],
                "llm": llm, "cache": {"enabled": False},
            })
            t0 = time.perf_counter()
            run_experiment(cfg, progress=False).close()
            rates[width] = args.horizon * args.runs / (time.perf_counter() - t0)
            print(f"vLLM {args.design}: {args.runs} runs x {args.horizon} decisions, lockstep width {width}: "
                  f"{rates[width]:.2f} decisions/s", flush=True)
    print(f"width {args.runs} / width 1: {rates[args.runs] / rates[1]:.1f}x")


if __name__ == "__main__":
    main()
