"""The meta-prompt value ``Q = (D, I, E)`` (METHODS §1)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


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
