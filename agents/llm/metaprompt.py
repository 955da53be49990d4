"""The meta-prompt value ``Q = (D, I, E)`` (METHODS §1) and what a task offers whoever proposes it each step
(:class:`ProposalContext`): the types agents and meta-prompt optimisers share, at the bottom of the layers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from expobench.agents.llm.types import Completion, LLMRequest


@dataclass(frozen=True)
class MetaPrompt:
    """Task description ``D``, meta-instruction ``I`` and exemplars ``E``.

    ``exemplars`` is the already rendered exemplar text (a history excerpt or summary), or ``None`` when the agent
    renders its own history (the task heuristic). ``ids`` records which candidates an optimiser chose
    (e.g. ``{"d": 3, "i": 17, "e": 0}``) and is stored with the step; it does not change the rendered prompt.
    """

    description: str
    instruction: str
    exemplars: str | None = None
    ids: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def digest(self) -> str:
        """Content hash of (D, I, E) -- the meta-prompt hash stored per step."""
        blob = json.dumps([self.description, self.instruction, self.exemplars])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def di_digest(self) -> str:
        """Hash of (D, I) only: identifies a candidate meta-prompt independently of the history shown."""
        return _di_hash(self.description, self.instruction)

    def with_exemplars(self, exemplars: str | None, **ids: Any) -> MetaPrompt:
        return MetaPrompt(self.description, self.instruction, exemplars, {**self.ids, **ids})


@lru_cache(maxsize=4096)
def _di_hash(description: str, instruction: str) -> str:
    # memoised: an agent renders a new MetaPrompt every step, mostly from the same few (D, I) pairs
    return hashlib.sha256(json.dumps([description, instruction]).encode()).hexdigest()[:16]


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


#: ``score(mp, lag)``: a generator yielding LLM requests and returning the prompt score of an answer with ``mp``.
ScoreFn = Callable[["MetaPrompt", int], Generator[list[LLMRequest], list[list[Completion]], float]]


@dataclass
class ProposalContext:
    """What the task offers the optimiser at iteration ``t``.

    ``exemplar_candidates``: rendered exemplar sequences to choose among (EXPO-ES); index ``heuristic`` is the
    task's default choice. ``fixed_domain``: candidate ``j`` means the same thing every iteration (e.g. the j-th
    rotation of a bandit summary), so per-candidate running sums are meaningful. ``recent``: a short excerpt of
    recent interactions with their true round numbers (GPO's task examples), given as text or as a function
    rendering it on first use. ``horizon``: the run's number of iterations.

    Off-line evaluation (GPO, METHODS §5), filled by the runner's composition from the agent when the agent can
    do it: ``score(mp, lag)`` is a generator that yields the LLM requests of the agent's answer with ``mp`` at
    its state ``lag`` iterations back (0 = now) and returns that answer's prompt score, without acting (the
    agent's real state and rng are untouched). ``score_definition`` says in one line what the prompt score means
    for the task (shown to an optimiser LLM).
    """

    t: int
    exemplar_candidates: Sequence[str] = field(default_factory=list)
    heuristic: int = 0
    fixed_domain: bool = False
    recent_text: str | Callable[[], str] = ""
    horizon: int = 0
    score: ScoreFn | None = None
    score_definition: str = ""

    @property
    def recent(self) -> str:
        if callable(self.recent_text):
            self.recent_text = self.recent_text()
        return self.recent_text

    def heuristic_prompt(self, base: MetaPrompt) -> MetaPrompt:
        """``base`` with the task's heuristic exemplars (what a fixed meta-prompt shows this step)."""
        if not self.exemplar_candidates:
            return base
        return base.with_exemplars(self.exemplar_candidates[self.heuristic], e=self.heuristic)


#: A proposal: a generator that may yield LLM requests (GPO, OPRO-meta) and returns the meta-prompt to use.
ProposeGen = Generator[list[LLMRequest], list[list[Completion]], MetaPrompt]
