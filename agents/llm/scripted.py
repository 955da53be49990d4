"""A deterministic, zero-latency backend for fast tests of the LLM path.

A *policy* maps ``(request, sample_index, args)`` to the completion text. Built-ins: ``fixed`` (cycle through
``args["texts"]``), ``garbage`` (junk derived from the request hash), ``first_choice`` (first option of a
choice constraint), ``random_choice`` (an option chosen by hash of request and sample index). Task modules add
their own with :func:`register_policy` (e.g. ``bandit_best_mean``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

from agents.llm.types import Completion, LLMRequest

Policy = Callable[[LLMRequest, int, dict[str, Any]], str]
POLICIES: dict[str, Policy] = {}


def register_policy(name: str) -> Callable[[Policy], Policy]:
    def deco(fn: Policy) -> Policy:
        POLICIES[name] = fn
        return fn

    return deco


def _hash(request: LLMRequest, sample_index: int) -> int:
    return int(hashlib.sha256(f"{request.digest()}:{sample_index}".encode()).hexdigest()[:12], 16)


@register_policy("first_choice")
def _first_choice(request: LLMRequest, i: int, args: dict[str, Any]) -> str:
    c = request.constraint
    return c.choice[0] if c is not None and c.choice else ""


@register_policy("random_choice")
def _random_choice(request: LLMRequest, i: int, args: dict[str, Any]) -> str:
    c = request.constraint
    if c is None or not c.choice:
        return ""
    return c.choice[_hash(request, i) % len(c.choice)]


@register_policy("garbage")
def _garbage(request: LLMRequest, i: int, args: dict[str, Any]) -> str:
    h = _hash(request, i)
    junk = "%#@!~qzx 0.3.. ]]{ \n purple:: ; <trace> ,,," * 2
    start = h % 40
    return junk[start:start + 5 + h % 30]


class ScriptedBackend:
    name = "scripted"

    def __init__(self, policy: str = "first_choice", policy_args: dict[str, Any] | None = None) -> None:
        _load_task_policies()
        if policy not in POLICIES:
            raise ValueError(f"unknown scripted policy {policy!r}; allowed: {', '.join(sorted(POLICIES))}")
        self.policy = POLICIES[policy]
        self.args = dict(policy_args or {})
        self.model_id = f"scripted:{policy}:{sorted(self.args.items())!r}"
        self._fixed = itertools.cycle(self.args.get("texts") or [""])

    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        out = []
        for req in requests:
            comps = []
            for i in range(req.n):
                text = next(self._fixed) if self.policy is _fixed else self.policy(req, i, self.args)
                prompt_tokens = sum(len(m.content.split()) for m in req.messages)
                comps.append(Completion(text, prompt_tokens, len(text.split()), "stop", 0.0))
            out.append(comps)
        return out


@register_policy("fixed")
def _fixed(request: LLMRequest, i: int, args: dict[str, Any]) -> str:  # texts cycle per backend instance
    raise AssertionError("handled by ScriptedBackend")


def _load_task_policies() -> None:
    """Task modules register their policies on import."""
    import agents.llm_bandit  # noqa: F401
