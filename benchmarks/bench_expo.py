"""EXPO update cost per iteration at the paper's pool size: 101 × 101 arms, t = 300 observed rows.

    python benchmarks/bench_expo.py [--n 101] [--rows 300] [--repeats 7]

Times, in one run and on the same network: (1) scoring every arm factorised (n_D + n_I projections and a
broadcast add), (2) the dense computation that materialises all n_D·n_I input rows, and (3) retraining the score
network (50 full-batch Adam steps on t rows). Prints medians and the dense/factorised ratio. Embeddings are
random unit vectors of the MiniLM width (384 per component): the cost does not depend on their content.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.metaopt.embeddings import HashEmbedder
from expobench.metaopt.expo import EXPO, EXPOParams
from expobench.metaopt.pools import CandidatePool


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=101)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    base = MetaPrompt("D0", "I0")
    pool = CandidatePool(["D0"] + [f"D{k}" for k in range(1, args.n)], ["I0"] + [f"I{k}" for k in range(1, args.n)])
    opt = EXPO(base, EXPOParams(), pool=pool, embedder=HashEmbedder(384))
    rng = np.random.default_rng(0)
    opt.reset(rng)
    opt.rows = [(int(rng.integers(args.n)), int(rng.integers(args.n)), float(rng.random())) for _ in range(args.rows)]
    net = opt.fit()
    fact = median_ms(lambda: opt.predict_all(net), args.repeats)
    dense = median_ms(lambda: opt.predict_all_dense(net), max(3, args.repeats // 2))
    train = median_ms(opt.fit, 3)
    update = median_ms(lambda: opt.update(0.5, {}), 3)
    torch.testing.assert_close(opt.predict_all(net), opt.predict_all_dense(net), atol=1e-4, rtol=1e-4)
    print(f"EXPO {args.n}x{args.n} arms, hidden {4 * 768}, t={args.rows} rows, torch threads {torch.get_num_threads()}")
    print(f"  score all arms, factorised : {fact:9.1f} ms (median of {args.repeats})")
    print(f"  score all arms, dense      : {dense:9.1f} ms")
    print(f"  ratio dense / factorised   : {dense / fact:9.1f}x")
    print(f"  retrain network (50 steps) : {train:9.1f} ms")
    print(f"  whole update (fit + score + sums + softmax): {update:9.1f} ms")


if __name__ == "__main__":
    main()
