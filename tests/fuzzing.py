"""Deterministic text fuzzing: mutants of valid answers plus random junk, for parser robustness tests."""

from __future__ import annotations

import numpy as np

_ALPHABET = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-+=[]{}()<>/\\\"'\n\t") + [
    "é", "→", "∞", "🙂", "\x00", "ﬁ", "Ⅻ", "١"]


def mutate(text: str, rng: np.random.Generator) -> str:
    chars = list(text)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(5))
        pos = int(rng.integers(len(chars) + 1))
        if op == 0:
            chars.insert(pos, _ALPHABET[int(rng.integers(len(_ALPHABET)))])
        elif op == 1 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 2 and chars:
            chars[min(pos, len(chars) - 1)] = _ALPHABET[int(rng.integers(len(_ALPHABET)))]
        elif op == 3:
            chars = chars[:pos]
        else:
            k = int(rng.integers(len(chars) + 1))
            chars = chars[:pos] + chars[k:pos][::-1] + chars[pos:] if k < pos else chars + chars[pos:k]
    return "".join(chars)


def fuzz_texts(valid: list[str], n: int = 10_000, seed: int = 0) -> list[str]:
    """``n`` strings: half mutants of the valid examples, a quarter valid examples wrapped in prose, a quarter
    random junk of random length."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:
        kind = rng.random()
        base = valid[int(rng.integers(len(valid)))]
        if kind < 0.5:
            out.append(mutate(base, rng))
        elif kind < 0.75:
            out.append(f"Sure! Here is my answer:\n{base}\nHope this helps." if rng.random() < 0.5 else f"`{base}`")
        else:
            length = int(rng.integers(0, 80))
            out.append("".join(_ALPHABET[i] for i in rng.integers(len(_ALPHABET), size=length)))
    return out
