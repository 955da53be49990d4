"""Value types shared by every LLM backend: requests, output constraints, completions, errors.

A backend implements :class:`Backend` -- ``generate(requests) -> completions`` over a *list* of requests, so
that the runner can send the requests of many lockstep runs in one call. ``generate`` returns one list per
request, holding ``request.n`` completions (sample index ``0..n-1``).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Constraint:
    """An output constraint: exactly one of ``choice``, ``regex`` or ``json_schema`` is set.

    - ``choice``: the completion must be one of these strings, verbatim.
    - ``regex``: the completion must match this regular expression (whole text).
    - ``json_schema``: the completion must be a JSON document valid under this schema.
    """

    choice: tuple[str, ...] | None = None
    regex: str | None = None
    json_schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        set_fields = [f for f in ("choice", "regex", "json_schema") if getattr(self, f) is not None]
        if len(set_fields) != 1:
            raise ValueError(f"a Constraint needs exactly one of choice/regex/json_schema, got {set_fields}")
        if self.choice is not None and len(self.choice) == 0:
            raise ValueError("Constraint.choice must not be empty")

    @property
    def kind(self) -> str:
        return "choice" if self.choice is not None else "regex" if self.regex is not None else "json_schema"

    def to_json(self) -> dict[str, Any]:
        if self.choice is not None:
            return {"choice": list(self.choice)}
        return {"regex": self.regex} if self.regex is not None else {"json_schema": self.json_schema}


@dataclass(frozen=True)
class LLMRequest:
    """One chat request.

    ``seed`` is the request seed derived from the run's master seed; together with the sample index it keeps
    samples at temperature > 0 distinct in the response cache. ``role`` names which configured LLM serves the
    request (``"agent"`` for the decision maker, ``"optimizer"`` for a meta-prompt optimiser's LLM).
    """

    messages: tuple[Message, ...]
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 64
    n: int = 1
    seed: int = 0
    constraint: Constraint | None = None
    role: str = "agent"

    def to_json(self) -> dict[str, Any]:
        """Every field that determines the output, as plain JSON (used for cache keys and the run store)."""
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "max_tokens": int(self.max_tokens),
            "n": int(self.n),
            "seed": int(self.seed),
            "constraint": self.constraint.to_json() if self.constraint else None,
        }

    @cached_property
    def _digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    def digest(self) -> str:
        """sha256 of the sorted JSON of :meth:`to_json` (the rendered-prompt hash stored per step); computed once
        per request (requests are immutable)."""
        return self._digest


def chat(system: str | None, user: str) -> tuple[Message, ...]:
    """Messages for a system + user turn (system omitted when ``None`` or empty)."""
    msgs = [Message("system", system)] if system else []
    return (*msgs, Message("user", user))


@dataclass
class Completion:
    """One sampled completion. ``latency_s`` is the wall time of the backend call that produced it."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    latency_s: float = 0.0
    cached: bool = False
    # Prompt tokens the backend actually evaluated (after KV/prefix reuse); None when unknown.
    prompt_tokens_evaluated: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class LLMError(RuntimeError):
    """Base class of backend errors. ``transient`` errors are retried by the client."""

    transient: bool = False


class BackendUnavailable(LLMError):
    transient = True


class BackendTimeout(LLMError):
    transient = True


class ContextTooLong(LLMError):
    transient = False


class BadResponse(LLMError):
    transient = True


class ModelNotInstalled(LLMError):
    """A model's weights are missing; the message says which package to install."""


class Backend(ABC):
    """The backend protocol: every backend subclasses it.

    ``name`` and ``model_id`` enter cache keys; ``model_id`` must change when the weights change (include the
    weight file's hash for local models).
    """

    name: str
    model_id: str
    #: Seconds the next ``generate`` call may spend on each request, set by the client before every attempt
    #: (what is left of its deadline); None: no bound. Backends that wait on a network honour it (the
    #: ``openai`` backend caps each request's timeout with it); local engines may ignore it.
    time_budget_s: float | None = None

    @abstractmethod
    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        """One list of ``request.n`` completions (sample indices ``0..n-1``) per request, in request order.
        Constraints are honoured where the engine supports them; failures raise the typed errors above
        (transient ones are retried by the client)."""
