"""Meta-prompt optimiser kinds by name."""

from __future__ import annotations

from typing import Any

from agents.metaprompt import MetaPrompt
from metaopt.base import Fixed, MetaPromptOptimizer
from metaopt.baselines import OPROMeta, RandomPool, SlidingWindowUCBPool
from metaopt.embeddings import Embedder
from metaopt.expo import EXPO, NeuralUCB
from metaopt.expo_es import EXPOES
from metaopt.gpo import EXPOGPO, GPO
from metaopt.pools import CandidatePool

OPTIMIZERS: dict[str, type[MetaPromptOptimizer]] = {
    cls.kind: cls
    for cls in (Fixed, EXPO, EXPOES, NeuralUCB, RandomPool, SlidingWindowUCBPool, OPROMeta, GPO, EXPOGPO)
}


def register_optimizer(cls: type[MetaPromptOptimizer]) -> type[MetaPromptOptimizer]:
    """Class decorator: make a user optimiser available as ``optimizer: {kind: cls.kind}``."""
    from agents.registry import add_kind

    return add_kind(OPTIMIZERS, cls, "optimizer")


def make_optimizer(kind: str, base: MetaPrompt, params: dict[str, Any] | None = None, *,
                   pool: CandidatePool | None = None, embedder: Embedder | None = None) -> MetaPromptOptimizer:
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer kind {kind!r}; allowed: {', '.join(sorted(OPTIMIZERS))}")
    cls = OPTIMIZERS[kind]
    p = cls.Params(**(params or {}))
    if getattr(cls, "needs_pool", False) or getattr(cls, "needs_embedder", False):
        return cls(base, p, pool=pool, embedder=embedder)  # type: ignore[call-arg]
    return cls(base, p)
