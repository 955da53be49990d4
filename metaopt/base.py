"""The meta-prompt optimiser protocol (METHODS §2-§6).

The runner holds one optimiser per LLM-agent run, beside the agent (``expobench.experiments.optimizers``). Every
iteration::

    mp = drive(opt.propose_steps(ctx))   # generator: may yield LLM requests (GPO, OPRO); returns a MetaPrompt
    ... the agent acts with mp and reports the prompt score s_t ...
    opt.update(s_t, info)

``ctx`` (:class:`ProposalContext`) carries the task's exemplar candidates for this iteration; optimisers that
do not choose exemplars return ``ctx.exemplar_candidates[ctx.heuristic]`` (the task heuristic).
``state_dict()``/``load_state_dict()`` round-trip everything needed to continue identically (JSON-serialisable
values, numpy arrays and torch tensors allowed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext, ProposeGen


class OptimizerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetaPromptOptimizer(ABC):
    """Base class; subclasses set ``kind`` and ``Params`` and implement ``update`` and ``propose`` (or
    ``propose_steps`` when proposing asks an LLM). Registration refuses a class that misses them."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type[OptimizerParams]] = OptimizerParams

    def __init__(self, base: MetaPrompt, params: OptimizerParams | None = None) -> None:
        self.base = base
        self.params = params if params is not None else self.Params()

    def reset(self, rng: np.random.Generator) -> None:
        """Start a run; ``rng`` is the only source of randomness."""
        self.rng = rng

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        """The meta-prompt for this iteration (optimisers that ask no LLM)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither propose nor propose_steps")

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        return self.propose(ctx)
        yield  # pragma: no cover

    @abstractmethod
    def update(self, score: float, info: dict[str, Any]) -> None:
        """Feed back the prompt score of the meta-prompt last proposed."""

    def record(self) -> dict[str, Any]:
        """Per-step diagnostics for the run store (chosen ids, entropy, top-5 arms, ...)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the base class keeps no state)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state; got keys {sorted(state)}")


class Fixed(MetaPromptOptimizer):
    """The hand-written meta-prompt, never changed; exemplars by the task heuristic (METHODS §6)."""

    kind = "fixed"

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        return ctx.heuristic_prompt(self.base)

    def update(self, score: float, info: dict[str, Any]) -> None:
        """A fixed meta-prompt learns nothing."""
