"""Meta-prompt optimiser kinds by name."""

from __future__ import annotations

from typing import Any

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.metaopt.base import Fixed, MetaPromptOptimizer
from expobench.metaopt.baselines import OPROMeta, RandomPool, SlidingWindowUCBPool
from expobench.metaopt.embeddings import Embedder
from expobench.metaopt.expo import EXPO, NeuralUCB
from expobench.metaopt.expo_es import EXPOES
from expobench.metaopt.gpo import EXPOGPO, GPO
from expobench.metaopt.pools import CandidatePool
from expobench.registries import add_kind

OPTIMIZERS: dict[str, type[MetaPromptOptimizer]] = {}


def register_optimizer(cls: type[MetaPromptOptimizer]) -> type[MetaPromptOptimizer]:
    """Class decorator: make a user optimiser available as ``optimizer: {kind: cls.kind}``. Refuses (TypeError) a
    class that leaves an abstract method unimplemented or implements neither ``propose`` nor ``propose_steps``."""
    if cls.propose is MetaPromptOptimizer.propose and cls.propose_steps is MetaPromptOptimizer.propose_steps:
        raise TypeError(f"optimizer {cls.__name__} cannot be registered: it implements neither propose nor "
                        "propose_steps")
    return add_kind(OPTIMIZERS, cls, "optimizer")


for _cls in (Fixed, EXPO, EXPOES, NeuralUCB, RandomPool, SlidingWindowUCBPool, OPROMeta, GPO, EXPOGPO):
    register_optimizer(_cls)


def make_optimizer(kind: str, base: MetaPrompt, params: dict[str, Any] | None = None, *,
                   pool: CandidatePool | None = None, embedder: Embedder | None = None) -> MetaPromptOptimizer:
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer kind {kind!r}; allowed: {', '.join(sorted(OPTIMIZERS))}")
    cls = OPTIMIZERS[kind]
    p = cls.Params(**(params or {}))
    if getattr(cls, "needs_pool", False) or getattr(cls, "needs_embedder", False):
        return cls(base, p, pool=pool, embedder=embedder)  # type: ignore[call-arg]
    return cls(base, p)
