"""Builds an LLM agent's meta-prompt optimiser from its config block: the optimiser kind, its candidate pool
(explicit file, a pool shipped with the suite for this (D0, I0), or generated once with the optimiser's LLM and
cached on disk) and the embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.metaopt.base import Fixed, MetaPromptOptimizer


def build_optimizer(opt_cfg: Any, base: MetaPrompt, agent: Any) -> MetaPromptOptimizer:
    """``opt_cfg`` is an :class:`expobench.experiments.config.OptimizerConfig` or ``None`` (fixed meta-prompt)."""
    if opt_cfg is None:
        return Fixed(base)
    from expobench.metaopt.registry import OPTIMIZERS, make_optimizer

    kind = opt_cfg.kind
    params = {} if opt_cfg is None else dict(opt_cfg.params)
    cls = OPTIMIZERS[kind]
    pool = resolve_pool(opt_cfg, base, agent) if getattr(cls, "needs_pool", False) else None
    embedder = make_embedder(opt_cfg) if getattr(cls, "needs_embedder", False) else None
    return make_optimizer(kind, base, params, pool=pool, embedder=embedder)


def make_embedder(opt_cfg: Any) -> Any:
    from expobench.metaopt.embeddings import Embedder

    model = (opt_cfg.pool or {}).get("embedding_model") if opt_cfg is not None else None
    return Embedder(model) if model else Embedder()


def resolve_pool(opt_cfg: Any, base: MetaPrompt, agent: Any) -> Any:
    from expobench.metaopt.pools import CandidatePool, find_shipped_pool, load_or_generate_pool

    settings = dict(opt_cfg.pool or {}) if opt_cfg is not None else {}
    settings.pop("embedding_model", None)
    if "path" in settings:
        return CandidatePool.load(Path(settings["path"]))
    shipped = find_shipped_pool(base.description, base.instruction)
    if shipped is not None and not settings.get("regenerate", False):
        return shipped
    settings.pop("regenerate", None)
    client = agent.llm_for("optimizer")
    return load_or_generate_pool(client, base.description, base.instruction, **settings)
