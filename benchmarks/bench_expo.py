"""EXPO's own update per iteration, old (reference fit on every raw row) vs new (fit on distinct inputs), in one run.

    python benchmarks/bench_expo.py [--repeats 3] [--quick]

The whole update is what an iteration costs after the LLM's decision: fit the score network on the t rows so far,
score every arm (factorised), add to the running sums, softmax. Cases: the bandit demo's pool (13 × 13 arms,
t = 25) and the paper's (101 × 101, t = 100 and 300); for each, (a) all t rows distinct (d, i) pairs and (b) the
rows EXPO's own sampling produced on a synthetic prompt bandit (score = q_D[d] + q_I[i] + N(0, 0.05), η = 10;
the sampling run uses hidden width ``--gen-hidden``, 256 by default, to keep it short; every timed fit uses the
full 3,072): the realistic case, where the sampling concentrates and rows repeat. Also: scoring every arm factorised
(current and previous CPU blocking) vs dense,
fitting ``--runs`` runs' networks as one batch vs one by one, and replaying the demo's 25 updates (what a resume
does).
Embeddings are random unit vectors of the MiniLM width (384 per component; the network's hidden width is then
4 × 768 = 3,072): the cost does not depend on their content. Medians of ``--repeats``; ratios are within one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.metaopt.embeddings import HashEmbedder
from expobench.metaopt.expo import EXPO, EXPOParams
from expobench.metaopt.pools import CandidatePool
from expobench.metaopt.scorenet import fit_mlps


class OldEXPO(EXPO):
    """EXPO with the previous update: the reference fit on every raw row."""

    def update(self, score: float, info: dict[str, Any]) -> None:
        self.rows.append((*self.choice, float(score)))
        self.finish_update([self.fit_reference()])


def previous_scoring(net: Any, blocks: list[torch.Tensor]) -> torch.Tensor:
    """``MLP.predict_product`` as it was on a CPU: blocks of whole arm rows broadcast over a middle axis (4 MiB)."""
    h1 = blocks[0] @ net.w1[:, :blocks[0].shape[1]].T
    h2 = blocks[1] @ net.w1[:, blocks[0].shape[1]:].T + net.b1
    n1, n2, hidden = h1.shape[0], h2.shape[0], h2.shape[1]
    c = max(1, min(n1, (1 << 20) // (n2 * hidden)))
    out, buf = h1.new_empty(n1, n2), h1.new_empty(c, n2, hidden)
    for a in range(0, n1, c):
        k = min(c, n1 - a)
        torch.add(h2[None], h1[a:a + k, None], out=buf[:k])
        buf[:k].clamp_(min=0)
        torch.matmul(buf[:k], net.w2, out=out[a:a + k])
    return (out + net.b2) * net.y_std + net.y_mean


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``fn()`` in ms, and its last result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def make(n: int, cls: type[EXPO] = EXPO, seed: int = 0, hidden: int | None = None) -> EXPO:
    pool = CandidatePool(["D0"] + [f"D{k}" for k in range(1, n)], ["I0"] + [f"I{k}" for k in range(1, n)])
    opt = cls(MetaPrompt("D0", "I0"), EXPOParams(eta=10.0, hidden=hidden), pool=pool, embedder=HashEmbedder(384))
    opt.reset(np.random.default_rng(seed))
    opt.embeddings()
    return opt


def play(opt: EXPO, t: int, seed: int = 0) -> float:
    """``t`` iterations of ``opt`` on the synthetic prompt bandit; returns the seconds they took."""
    rng = np.random.default_rng(1000 + seed)
    q_d, q_i = rng.uniform(0, 0.5, opt.n_d), rng.uniform(0, 0.5, opt.n_i)
    ctx = ProposalContext(t=0, exemplar_candidates=[""], fixed_domain=True)
    t0 = time.perf_counter()
    for _ in range(t):
        mp = opt.propose(ctx)
        d, i = mp.ids["d"], mp.ids["i"]
        opt.update(float(q_d[d] + q_i[i] + rng.normal(0, 0.05)), {})
    return time.perf_counter() - t0


def whole_update(opt: EXPO, fit: Callable[[], Any]) -> np.ndarray:
    """fit + score every arm + sums + softmax, leaving ``opt`` as it was (the update's work without its row)."""
    net = fit()
    sums = opt.sums + opt.predict_all(net).reshape(-1).cpu().numpy().astype(np.float64)
    z = opt.params.eta * sums
    w = np.exp(z - z.max())
    return w / w.sum()


def with_rows(n: int, rows: list[tuple[int, int, float]]) -> EXPO:
    opt = make(n)
    opt.rows = list(rows)
    return opt


def distinct_rows(n: int, t: int, seed: int = 0) -> list[tuple[int, int, float]]:
    rng = np.random.default_rng(seed)
    flat = rng.choice(n * n, size=t, replace=False)
    return [(int(f) // n, int(f) % n, float(rng.random())) for f in flat]


def shape(opt: EXPO) -> str:
    rows = opt.fit_job().rows
    return f"{rows.index.shape[0]} distinct (d, i), {rows.blocks[0].shape[0]} D, {rows.blocks[1].shape[0]} I"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only 13 x 13 and 101 x 101 at t = 100")
    ap.add_argument("--gen-hidden", type=int, default=256, help="hidden width of the sampling run")
    ap.add_argument("--runs", type=int, default=8, help="runs fitted as one batch")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.repeats}; ms")

    # rows from EXPO's own sampling: one run per pool size (the t = 100 rows are the first 100 of the t = 300 run);
    # the 101 x 101 run's time is a resume's replay of its 300 updates
    t_max = 100 if args.quick else 300
    demo = make(13, hidden=args.gen_hidden)
    play(demo, 25)
    paper = make(101, hidden=args.gen_hidden)
    play(paper, t_max)
    sampled = {(13, 25): demo.rows, (101, 100): paper.rows[:100], (101, 300): paper.rows[:300]}

    print("\nwhole update (fit + score every arm + sums + softmax)")
    print("| arms | t | rows | inputs | old | new | old / new |")
    print("|---|---|---|---|---|---|---|")
    for (n, t) in [(13, 25), (101, 100), (101, 300)]:
        if (n, t) not in sampled or len(sampled[(n, t)]) < t:
            continue
        for label, rows in [("all distinct", distinct_rows(n, t)), ("EXPO's sampling", sampled[(n, t)])]:
            opt = with_rows(n, rows)
            new, p_new = median_ms(lambda: whole_update(opt, opt.fit), args.repeats)  # noqa: B023
            old, p_old = median_ms(lambda: whole_update(opt, opt.fit_reference), args.repeats)  # noqa: B023
            np.testing.assert_allclose(p_new, p_old, atol=0.02)
            print(f"| {n} x {n} | {t} | {label} | {shape(opt)} | {old:,.1f} | {new:,.1f} | {old / new:.1f}x |")

    opt = with_rows(101, sampled[(101, 100)])
    net = opt.fit()
    fact, s_fact = median_ms(lambda: opt.predict_all(net), max(5, args.repeats))
    prev, s_prev = median_ms(lambda: previous_scoring(net, list(opt.embeddings())), max(5, args.repeats))
    dense, s_dense = median_ms(lambda: opt.predict_all_dense(net), args.repeats)
    torch.testing.assert_close(s_fact, s_dense, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s_prev, s_dense, atol=1e-4, rtol=1e-4)
    print(f"\nscore every arm at 101 x 101 (hidden 3,072), ms: factorised {fact:.1f} (previous blocks {prev:.1f}, "
          f"{prev / fact:.2f}x), dense {dense:.1f}, dense / factorised {dense / fact:.1f}x")

    # runs stepping together: their fits as one batch vs one by one (rows: EXPO's sampling, per-run noise)
    rng = np.random.default_rng(7)
    jobs = []
    for _ in range(args.runs):
        rows = [(d, i, s + float(rng.normal(0, 0.05))) for d, i, s in sampled[(101, 100)]]
        jobs.append(with_rows(101, rows).fit_job())
    batched, _ = median_ms(lambda: fit_mlps([j.rows for j in jobs], jobs[0].settings), args.repeats)
    apart, _ = median_ms(lambda: [fit_mlps([j.rows], j.settings) for j in jobs], args.repeats)
    print(f"{args.runs} runs' fits at 101 x 101, t = 100 (EXPO's sampling): one batch {batched:,.1f}, one by one "
          f"{apart:,.1f} ({apart / batched:.2f}x)")

    # a resume replays every update: the demo's 25, old vs new
    old_demo = make(13, OldEXPO)
    replay_demo_old = play(old_demo, 25)
    new_demo = make(13)
    replay_demo_new = play(new_demo, 25)
    same = [r[:2] for r in old_demo.rows] == [r[:2] for r in new_demo.rows]
    print(f"replay 25 updates at 13 x 13 (a resume): old {replay_demo_old * 1000:,.0f}, new "
          f"{replay_demo_new * 1000:,.0f} ({replay_demo_old / replay_demo_new:.1f}x); same choices: {same}")


if __name__ == "__main__":
    main()
