"""P3 -- replay from the response cache, and P4 -- prefix reuse, with the embedded model through llama.cpp.

    python benchmarks/bench_replay.py [--model smollm2-135m-instruct] [--horizon 20] [--seeds 2]

Runs an LLM bandit experiment live (empty cache), then the same experiment again into a new output directory
with the cache: prints both wall times, their ratio, and whether the two stores hold identical decisions (P3).
P4 interleaves two runs' bandit prompts (as lockstep does) and prints prompt tokens sent vs evaluated per request
and evaluated / new tokens, where new tokens are those not shared with the same run's previous prompt.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from expobench.experiments.config import parse_config
from expobench.experiments.runner import run_experiment


def config(out: Path, cache: Path, args: argparse.Namespace):
    return parse_config({
        "name": "replay", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": args.horizon,
        "seeds": list(range(args.seeds)), "out": str(out), "cache": {"path": str(cache)},
        "agents": [{"name": "nd", "kind": "llm_bandit", "params": {"design": "BSSND"}},
                   {"name": "n0", "kind": "llm_bandit", "params": {"design": "BNSN0"}}],
        "llm": {"backend": "llamacpp", "model": args.model, "n_ctx": 2048},
    })


def decisions(out: Path) -> list:
    db = sqlite3.connect(out / "runs.sqlite")
    return db.execute("SELECT run_id, t, action, json_extract(record, '$.text') FROM steps ORDER BY run_id, t"
                      ).fetchall()


def prefix_reuse(model: str, rounds: int) -> tuple[float, float, float]:
    """Interleave two runs (designs BSSND and ASSND, like lockstep runs) for ``rounds`` rounds each; per request:
    prompt tokens sent, evaluated by llama.cpp, and new = not shared with the same run's previous prompt
    (token-level common prefix of system + user text). Returns per-request means (sent, evaluated, new)."""
    import numpy as np

    from expobench.agents.llm.llamacpp import LlamaCppBackend
    from expobench.agents.llm.types import LLMRequest, Message
    from expobench.envs import bandit_text as bt

    backend = LlamaCppBackend(model, n_ctx=2048)
    backend.reset()
    rng = np.random.default_rng(0)
    designs = [bt.Design("BSSND"), bt.Design("ASSND")]
    hist = {d.code: ([], []) for d in designs}
    prev: dict[str, list[int]] = {}
    sent = evaluated = new = 0
    for t in range(rounds):
        for d in designs:
            acts, rews = hist[d.code]
            system = bt.task_description(d, 5, 100) + "\n\n" + bt.meta_instruction(d, 5)
            user = bt.render_history(d, 5, acts, rews) + "\n\n" + bt.question(d, 5, t, 100)
            req = LLMRequest((Message("system", system), Message("user", user)), max_tokens=40,
                             constraint=bt.answer_constraint(d, 5))
            c = backend.generate([req])[0][0]
            toks = backend.llm.tokenize((system + "\n" + user).encode())
            old = prev.get(d.code, [])
            common = next((i for i, (a, b) in enumerate(zip(old, toks)) if a != b), min(len(old), len(toks)))
            sent += c.prompt_tokens
            evaluated += c.prompt_tokens_evaluated or 0
            new += c.prompt_tokens if not old else len(toks) - common
            prev[d.code] = toks
            acts.append(int(rng.integers(5)))
            rews.append(float(rng.random() < 0.5))
    n = 2 * rounds
    return sent / n, evaluated / n, new / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--horizon", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        run_experiment(config(tmp / "live", tmp / "cache.sqlite", args), progress=False).close()
        live = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_experiment(config(tmp / "replay", tmp / "cache.sqlite", args), progress=False).close()
        replay = time.perf_counter() - t0
        same = decisions(tmp / "live") == decisions(tmp / "replay")
        n = len(decisions(tmp / "live"))
        print(f"P3 {args.model}: {n} decisions live {live:.1f} s, replayed from cache {replay:.2f} s, "
              f"{live / replay:.0f}x faster, identical decisions: {same}")
    sent, evaluated, new = prefix_reuse(args.model, args.horizon)
    print(f"P4 {args.model}: two interleaved runs, {args.horizon} rounds each; prompt tokens per request: sent "
          f"{sent:.0f}, evaluated {evaluated:.0f}, new {new:.0f}; evaluated / new = {evaluated / max(new, 1e-9):.2f}")


if __name__ == "__main__":
    main()
