"""A deterministic, zero-latency backend for fast tests of the LLM path.

A *policy* maps ``(request, sample_index, args)`` to the completion text. Built-ins: ``fixed`` (cycle through
``args["texts"]``), ``garbage`` (junk derived from the request hash), ``first_choice`` (first option of a
choice constraint), ``random_choice`` (an option chosen by hash of request and sample index), ``bandit_best_mean``
(the best arm of a rendered bandit history). More can be added with :func:`register_policy`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable
from typing import Any

from expobench.agents.llm.types import Backend, Completion, LLMRequest

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


class ScriptedBackend(Backend):
    """The test suite's one fake LLM. ``requests`` keeps every request it answered, in order (tests read the
    prompts an optimiser or agent sent)."""

    name = "scripted"

    def __init__(self, policy: str = "first_choice", policy_args: dict[str, Any] | None = None) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown scripted policy {policy!r}; allowed: {', '.join(sorted(POLICIES))}")
        self.policy = POLICIES[policy]
        self.args = dict(policy_args or {})
        self.model_id = f"scripted:{policy}:{sorted(self.args.items())!r}"
        self._fixed = itertools.cycle(self.args.get("texts") or [""])
        self.requests: list[LLMRequest] = []

    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        out = []
        self.requests.extend(requests)
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


@register_policy("bandit_best_mean")
def best_mean_policy(request: LLMRequest, sample_index: int, args: dict[str, Any]) -> str:
    """Scripted-backend policy for bandit prompts: answer with the arm of highest average reward in the
    rendered history (arms never played first), in the request's answer format. Free-text (reasoning) requests
    get a fixed sentence. Used by fast tests of the LLM path."""
    c = request.constraint
    if c is None:
        return "The summary shows which option has paid best so far."
    names = list(c.choice) if c.choice is not None else re.findall(r"([A-Za-z]+):\(", c.regex or "")
    if not names:  # not a bandit answer format
        return POLICIES["first_choice"](request, sample_index, args)
    user = request.messages[1].content if len(request.messages) > 1 else ""
    stats = {n: [0, 0.0] for n in names}
    for name, count, avg in re.findall(r"^(\w+) \w+: \w+ (\d+) times(?:, average reward ([0-9.]+))?", user, re.M):
        if name in stats:
            stats[name] = [int(count), float(avg or 0) * int(count)]
    for name, reward in re.findall(r"^Round \d+: \w+ (\w+), reward ([0-9.]+)", user, re.M):
        if name in stats:
            stats[name][0] += 1
            stats[name][1] += float(reward)
    best = max(names, key=lambda n: (stats[n][0] == 0, stats[n][1] / max(stats[n][0], 1)))
    if c.choice is not None:
        return best
    return ",".join(f"{n}:{'1.00' if n == best else '0'}" for n in names)
