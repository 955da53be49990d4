"""The meta-prompt optimiser protocol (METHODS §2-§6).

An optimiser lives inside an LLM agent's run. Every iteration::

    mp = drive(opt.propose_steps(ctx))   # generator: may yield LLM requests (GPO, OPRO); returns a MetaPrompt
    ... the agent acts with mp, the task computes the prompt score s_t ...
    opt.update(s_t, info)

``ctx`` (:class:`ProposalContext`) carries the task's exemplar candidates for this iteration; optimisers that
do not choose exemplars return ``ctx.exemplar_candidates[ctx.heuristic]`` (the task heuristic).
``state_dict()``/``load_state_dict()`` round-trip everything needed to continue identically (JSON-serialisable
values, numpy arrays and torch tensors allowed).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.agents.llm.types import Completion, LLMRequest

ProposeGen = Generator[list[LLMRequest], list[list[Completion]], MetaPrompt]


class LazyTexts(Sequence[str]):
    """``n`` texts rendered on first access by ``render(i)`` and kept: a task may offer many exemplar candidates
    while most optimisers read only the heuristic one."""

    def __init__(self, n: int, render: Callable[[int], str]) -> None:
        self._n, self._render, self._done = n, render, {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i %= self._n
        if i not in self._done:
            self._done[i] = self._render(i)
        return self._done[i]


@dataclass
class ProposalContext:
    """What the task offers the optimiser at iteration ``t``.

    ``exemplar_candidates``: rendered exemplar sequences to choose among (EXPO-ES); index ``heuristic`` is the
    task's default choice. ``fixed_domain``: candidate ``j`` means the same thing every iteration (e.g. the j-th
    rotation of a bandit summary), so per-candidate running sums are meaningful. ``recent``: a short excerpt of
    recent interactions (GPO's task examples), given as text or as a function rendering it on first use.
    ``horizon``: the run's number of iterations.
    """

    t: int
    exemplar_candidates: Sequence[str] = field(default_factory=list)
    heuristic: int = 0
    fixed_domain: bool = False
    recent_text: str | Callable[[], str] = ""
    horizon: int = 0

    @property
    def recent(self) -> str:
        if callable(self.recent_text):
            self.recent_text = self.recent_text()
        return self.recent_text


class OptimizerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetaPromptOptimizer:
    """Base class; subclasses set ``kind`` and ``Params``."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type[OptimizerParams]] = OptimizerParams

    def __init__(self, base: MetaPrompt, params: OptimizerParams | None = None) -> None:
        self.base = base
        self.params = params if params is not None else self.Params()

    def reset(self, rng: np.random.Generator) -> None:
        """Start a run; ``rng`` is the only source of randomness."""

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        raise NotImplementedError

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        return self.propose(ctx)
        yield  # pragma: no cover

    def update(self, score: float, info: dict[str, Any]) -> None:
        """Feed back the prompt score of the meta-prompt last proposed."""

    def record(self) -> dict[str, Any]:
        """Per-step diagnostics for the run store (chosen ids, entropy, top-5 arms, ...)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Fixed(MetaPromptOptimizer):
    """The hand-written meta-prompt, never changed; exemplars by the task heuristic (METHODS §6)."""

    kind = "fixed"

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        if not ctx.exemplar_candidates:
            return self.base
        return self.base.with_exemplars(ctx.exemplar_candidates[ctx.heuristic], e=ctx.heuristic)
