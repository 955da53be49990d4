"""Candidate pools of meta-prompt components (METHODS §2, step 1).

A pool holds candidate task descriptions and meta-instructions; index 0 of each list is the original (D0, I0).
EXPO's arms are all pairs (description a, instruction b). Pools are data: generated once with an LLM (one
rephrasing per call, temperature 1.3 by default), cached on disk keyed by (D0, I0, model, parameters, seed), and
shipped for the bundled tasks under ``metaopt/data/pools``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expobench.agents.llm.types import LLMRequest, Message
from expobench.settings import cache_root

SHIPPED = Path(__file__).parent / "data" / "pools"

REPHRASE_SYSTEM = "You rewrite texts. Reply with the rewritten text only, without quotes or commentary."
REPHRASE_USER = (
    "Improve the following text by rephrasing it; you may change some of its details and wording, but keep its "
    "core meaning and every constraint it states (names, numbers, the required answer format).\n\n"
    "Text:\n\"\"\"\n{text}\n\"\"\"\n\nRewritten text:"
)


@dataclass
class CandidatePool:
    descriptions: list[str]
    instructions: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.descriptions), len(self.instructions)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"descriptions": self.descriptions, "instructions": self.instructions,
                                   "meta": self.meta}, indent=1, ensure_ascii=False))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> CandidatePool:
        try:
            data = json.loads(Path(path).read_text())
            pool = cls(list(data["descriptions"]), list(data["instructions"]), dict(data.get("meta", {})))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"cannot read candidate pool {path}: {e}") from None
        if not pool.descriptions or not pool.instructions:
            raise ValueError(f"candidate pool {path} has an empty list")
        return pool


_COMMENTARY = re.compile(
    r"(?:(?<=[.!?\"'])\s+|\n\s*)(?=(?:this|the above|the|my|i have) (?:rephras|rewrit|revis|paraphras|reword)"
    r"|(?:note|explanation)\s*:)", re.I)


def clean_rephrasing(text: str) -> str:
    """Strip code fences, a leading label like 'Rewritten text:', wrapping quotes, and the model's commentary after
    the text (a closing triple quote and what follows; a trailing 'This rephrased text keeps…' or 'Note: …')."""
    t = text.strip()
    t = re.sub(r"^```[a-z]*\n?|```$", "", t).strip()
    t = re.sub(r"^(rewritten|rephrased|improved)( text)?\s*:\s*", "", t, flags=re.I).strip()
    t = next((part for part in re.split(r'"""|\'\'\'', t) if part.strip()), "").strip()
    t = _COMMENTARY.split(t)[0].strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    return t.strip('"').strip()


def rephrase_requests(text: str, n: int, temperature: float, seed: int, max_tokens: int) -> list[LLMRequest]:
    msgs = (Message("system", REPHRASE_SYSTEM), Message("user", REPHRASE_USER.format(text=text)))
    return [LLMRequest(msgs, temperature=temperature, max_tokens=max_tokens, seed=seed + i, role="optimizer")
            for i in range(n)]


def generate_pool(llm: Any, d0: str, i0: str, n_desc: int = 100, n_instr: int = 100, temperature: float = 1.3,
                  seed: int = 0, max_tokens: int = 256) -> CandidatePool:
    """One LLM call per rephrasing; empty and duplicate rephrasings (and copies of the original) are dropped."""

    def rephrase(text: str, n: int, offset: int) -> list[str]:
        reqs = rephrase_requests(text, n, temperature, seed + offset, max_tokens)
        outs = [clean_rephrasing(c[0].text) for c in llm.generate(reqs)] if reqs else []
        seen = {text.strip()}
        kept = []
        for o in outs:
            if o and o not in seen:
                seen.add(o)
                kept.append(o)
        return [text, *kept]

    return CandidatePool(rephrase(d0, n_desc, 0), rephrase(i0, n_instr, 1_000_000),
                         {"model": getattr(llm, "model_id", None) or getattr(getattr(llm, "backend", None),
                                                                            "model_id", "?"),
                          "n_desc": n_desc, "n_instr": n_instr, "temperature": temperature, "seed": seed})


def _pool_key(d0: str, i0: str, model: str, params: dict[str, Any]) -> str:
    blob = json.dumps({"d0": d0, "i0": i0, "model": model, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load_or_generate_pool(client: Any, d0: str, i0: str, n_desc: int = 100, n_instr: int = 100,
                          temperature: float = 1.3, seed: int = 0, max_tokens: int = 256) -> CandidatePool:
    """The cached pool for these inputs, generating (and caching) it on first use."""
    model = client.backend.model_id if hasattr(client, "backend") else getattr(client, "model_id", "?")
    params = {"n_desc": n_desc, "n_instr": n_instr, "temperature": temperature, "seed": seed,
              "max_tokens": max_tokens}
    path = cache_root() / "pools" / f"{_pool_key(d0, i0, model, params)}.json"
    if path.exists():
        return CandidatePool.load(path)
    pool = generate_pool(client, d0, i0, n_desc, n_instr, temperature, seed, max_tokens)
    pool.save(path)
    return pool


def find_shipped_pool(d0: str, i0: str) -> CandidatePool | None:
    """A pool shipped with the suite whose originals are exactly (D0, I0), if any."""
    for path in sorted(SHIPPED.glob("*.json")):
        pool = CandidatePool.load(path)
        if pool.descriptions[0] == d0 and pool.instructions[0] == i0:
            return pool
    return None
