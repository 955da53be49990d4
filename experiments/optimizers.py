"""The run's meta-prompt optimiser, beside the agent: built from the typed optimiser config and composed with an
LLM agent's decision each step.

The runner holds one optimiser per LLM-agent run (``Fixed`` when the agent has no ``optimizer`` block). Each
step (:func:`decide_with_optimizer`)::

    ctx = agent.proposal_context()                 # what the task offers: exemplar candidates, recent history
    ctx = offer_probes(agent, ctx)                 # + off-line scoring of a meta-prompt (GPO), score definition
    mp = yield from optimizer.propose_steps(ctx)   # Q = (D, I, E); its own LLM requests batch with the agents'
    decision = yield from agent.decide_with(mp)    # the agent acts with Q and reports the prompt score
    ... env.step, agent.observe ...
    optimizer.update(agent.optimizer_score(record, info), {"t": t, "reward": reward})   # skipped when None

An agent that holds its meta-prompt over an episode (``agent.proposes_now()`` False between episode starts) is
proposed to once per episode and scored once, at the episode's end. Runs stepping together update their
optimisers together (:func:`update_optimizers`): EXPO's score networks of all of them are fitted as one batched
computation.

Any optimiser works with any LLM agent kind, since agents only receive meta-prompts. The optimiser's LLM (GPO's
refiner, a pool generator) is the client of the agent's ``optimizer`` role (``optimizer.llm``, else the agent's).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from expobench.agents.base import DecisionGen
from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.metaopt.base import Fixed, MetaPromptOptimizer


def build_optimizer(opt_cfg: Any, base: MetaPrompt, optimizer_llm: Callable[[], Any],
                    rng: np.random.Generator) -> MetaPromptOptimizer:
    """The optimiser of one run, reset with its own stream drawn from ``rng`` (the agent's, after its reset).

    ``opt_cfg`` is an :class:`expobench.experiments.config.OptimizerConfig` or ``None`` (fixed meta-prompt);
    ``base`` the agent's starting (D0, I0); ``optimizer_llm()`` gives the optimiser role's LLM client (called only
    when a pool must be generated)."""
    optimizer = _make(opt_cfg, base, optimizer_llm)
    optimizer.reset(np.random.default_rng(int(rng.integers(2**63 - 1))))
    return optimizer


def _make(opt_cfg: Any, base: MetaPrompt, optimizer_llm: Callable[[], Any]) -> MetaPromptOptimizer:
    if opt_cfg is None:
        return Fixed(base)
    from expobench.metaopt.registry import OPTIMIZERS, make_optimizer

    cls = OPTIMIZERS[opt_cfg.kind]
    pool = resolve_pool(opt_cfg, base, optimizer_llm) if getattr(cls, "needs_pool", False) else None
    embedder = make_embedder(opt_cfg) if getattr(cls, "needs_embedder", False) else None
    return make_optimizer(opt_cfg.kind, base, dict(opt_cfg.params), pool=pool, embedder=embedder)


def make_embedder(opt_cfg: Any) -> Any:
    from expobench.metaopt.embeddings import Embedder

    model = (opt_cfg.pool or {}).get("embedding_model") if opt_cfg is not None else None
    return Embedder(model) if model else Embedder()


def resolve_pool(opt_cfg: Any, base: MetaPrompt, optimizer_llm: Callable[[], Any]) -> Any:
    """The candidate pool: ``pool.path``, else a pool shipped for this (D0, I0), else generated once with the
    optimiser's LLM and cached on disk."""
    from expobench.metaopt.pools import CandidatePool, find_shipped_pool, load_or_generate_pool

    settings = dict(opt_cfg.pool or {}) if opt_cfg is not None else {}
    settings.pop("embedding_model", None)
    if "path" in settings:
        return CandidatePool.load(Path(settings["path"]))
    shipped = find_shipped_pool(base.description, base.instruction)
    if shipped is not None and not settings.get("regenerate", False):
        return shipped
    settings.pop("regenerate", None)
    return load_or_generate_pool(optimizer_llm(), base.description, base.instruction, **settings)


def decide_with_optimizer(agent: Any, optimizer: MetaPromptOptimizer) -> DecisionGen:
    """One decision of an LLM agent with the meta-prompt its run's optimiser proposes (or, where the agent holds
    its meta-prompt over several decisions, ``agent.proposes_now()`` False, the one proposed last, its exemplars
    rendered from the current history); the step's record gets the meta-prompt's hashes and candidate ids and the
    optimiser's diagnostics."""
    ctx = agent.proposal_context()
    held = getattr(agent, "held_meta_prompt", None)
    if held is not None and not agent.proposes_now():
        mp = held
        if held.exemplars is not None and "e" in held.ids:  # the same exemplar choice, on today's history
            mp = held.with_exemplars(ctx.exemplar_candidates[held.ids["e"]])
    else:
        mp = yield from optimizer.propose_steps(offer_probes(agent, ctx))
    agent.held_meta_prompt = mp
    decision = yield from agent.decide_with(mp)
    decision.record.update(llm=True, mp_hash=mp.digest(), di_hash=mp.di_digest(), mp_ids=dict(mp.ids),
                           optimizer=optimizer.record())
    decision.meta_prompt = mp
    return decision


def offer_probes(agent: Any, ctx: ProposalContext) -> ProposalContext:
    """Fill what the agent offers an optimiser beyond the task's context: off-line scoring of a meta-prompt on
    its current or an earlier state (``ctx.score``, when the agent can cut its state back), the prompt score's
    one-line definition, and recent interactions with true round numbers (when the agent renders its own)."""
    if ctx.score is None and getattr(agent, "can_score_offline", lambda: False)():
        ctx.score = agent.score_prompt
    if not ctx.score_definition and hasattr(agent, "prompt_score_definition"):
        ctx.score_definition = agent.prompt_score_definition()
    if hasattr(agent, "recent_interactions"):
        fallback = ctx.recent_text

        def recent() -> str:
            text = agent.recent_interactions()
            if text is None:
                return fallback() if callable(fallback) else fallback
            return text

        ctx.recent_text = recent
    return ctx


def update_optimizers(updates: list[tuple[MetaPromptOptimizer, float | None, int, float]]) -> None:
    """Feed each ``(optimizer, score, t, reward)`` of runs stepping together back to its optimiser (the score
    the agent reports for the step, :meth:`~expobench.agents.llm_agent.LLMAgent.optimizer_score`; ``None``: no
    update); the EXPO-family optimisers among them are updated as one
    (:func:`expobench.metaopt.expo.update_together`: their score networks fitted as one batched computation),
    each ending in the state its own update gives."""
    from expobench.metaopt.expo import can_update_together, update_together

    joint, scores, infos = [], [], []
    for optimizer, score, t, reward in updates:
        if score is None:
            continue
        if can_update_together(optimizer):
            joint.append(optimizer)
            scores.append(float(score))
            infos.append({"t": t, "reward": reward})
        else:
            optimizer.update(float(score), {"t": t, "reward": reward})
    if joint:
        update_together(joint, scores, infos)
