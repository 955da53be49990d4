"""Base class of LLM agents: meta-prompt provider, request seeds, parse-retry-fallback, per-step records.

Every decision::

    ctx = self.proposal_context()                        # the task's exemplar candidates (E) for this round
    mp  = yield from optimizer.propose_steps(ctx)        # Q = (D, I, E); may itself ask an LLM (GPO, OPRO)
    decision = yield from self.decide_with(mp)           # task-specific: render, ask, parse
    ... env.step ...
    optimizer.update(prompt_score)                       # in observe

Subclasses implement :meth:`base_meta_prompt`, :meth:`proposal_context`, :meth:`decide_with`, and
:meth:`task_observe`. :meth:`ask` runs one question through the parse → re-ask → fallback policy: a failed parse
is re-asked up to ``max_retries`` times (new request seeds), then the declared fallback is used; both events are
counted in the step's record (``invalid``: the first answer failed; ``fallback``: no answer parsed).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Agent, AgentParams, DecisionGen
from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.agents.llm.types import Completion, Constraint, LLMRequest, Message
from expobench.metaopt.base import MetaPromptOptimizer, ProposalContext

P = TypeVar("P")


class LLMAgentParams(AgentParams):
    max_retries: int = Field(2, ge=0, description="Re-asks after an answer that does not parse, before the fallback.")
    max_tokens: int = Field(48, ge=1, description="Token limit of an answer.")
    description: str | None = Field(
        None, min_length=1,
        description="Replaces the hand-written task description D0 (e.g. one written by `expobench export-prompt`).")
    instruction: str | None = Field(
        None, min_length=1,
        description="Replaces the hand-written meta-instruction I0 (e.g. one written by `expobench export-prompt`).")


@dataclass
class Asked:
    """Outcome of :meth:`LLMAgent.ask`: the parsed value (``None`` when every attempt failed), the raw texts of
    all attempts, their errors, and usage totals."""

    value: Any = None
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cache_hits: int = 0
    calls: int = 0

    def add(self, c: Completion) -> None:
        self.texts.append(c.text)
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens
        self.latency_s += c.latency_s
        self.cache_hits += int(c.cached)
        self.calls += 1

    def merge(self, other: Asked) -> None:
        for k in ("prompt_tokens", "completion_tokens", "latency_s", "cache_hits", "calls"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


class LLMAgent(Agent):
    uses_llm: ClassVar[bool] = True
    Params: ClassVar[type[LLMAgentParams]] = LLMAgentParams

    def configure(self, *, agent_config: Any, experiment: Any, seed: int, llm_for: Callable[[str], Any]) -> None:
        """Called by the runner before ``reset``: the agent's config block, the experiment config, the run seed,
        and ``llm_for(role)`` giving the LLM client of a role (used outside decisions, e.g. to build a pool)."""
        self.agent_config = agent_config
        self.llm_for = llm_for
        self.experiment = experiment
        self.horizon = int(experiment.horizon)
        self.run_seed = seed

    # -- to implement --------------------------------------------------------------------------------------
    def base_meta_prompt(self) -> MetaPrompt:
        """The hand-written (D0, I0) of this task and configuration."""
        raise NotImplementedError

    def proposal_context(self) -> ProposalContext:
        raise NotImplementedError

    def decide_with(self, mp: MetaPrompt) -> DecisionGen:
        raise NotImplementedError

    def task_observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def start_meta_prompt(self) -> MetaPrompt:
        """The (D0, I0) this run starts from: :meth:`base_meta_prompt` with the ``description`` /
        ``instruction`` params, when given, in place of the hand-written texts."""
        base = self.base_meta_prompt()
        return MetaPrompt(self.params.description or base.description, self.params.instruction or base.instruction)

    # -- life cycle ----------------------------------------------------------------------------------------
    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        self.env = env
        self.rng = rng
        self.t = 0
        self.seed_base = int(rng.integers(2**31 - 1))
        self.task_reset(env)
        self.optimizer = self.build_optimizer()
        self.optimizer.reset(np.random.default_rng(int(rng.integers(2**63 - 1))))
        self.pending_score: float | None = None

    def task_reset(self, env: gym.Env) -> None:
        """Task state at the start of a run (after ``self.env``/``self.rng`` are set)."""

    def build_optimizer(self) -> MetaPromptOptimizer:
        from expobench.agents.optimizer_setup import build_optimizer

        opt_cfg = getattr(self.agent_config, "optimizer", None)
        return build_optimizer(opt_cfg, self.start_meta_prompt(), self)

    def decide(self, observation: Any) -> DecisionGen:
        ctx = self.proposal_context()
        mp = yield from self.optimizer.propose_steps(ctx)
        decision = yield from self.decide_with(mp)
        decision.record.update(
            llm=True, mp_hash=mp.digest(), di_hash=mp.di_digest(), mp_ids=dict(mp.ids),
            optimizer=self.optimizer.record(),
        )
        decision.meta_prompt = mp
        self.pending_score = decision.record.get("prompt_score")
        return decision

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        self.task_observe(action, reward, info)
        if self.pending_score is not None:
            self.optimizer.update(float(self.pending_score), {"t": self.t, "reward": reward})
        self.pending_score = None
        self.t += 1

    # -- helpers -------------------------------------------------------------------------------------------
    def request_seed(self, attempt: int, sub: int = 0) -> int:
        """Deterministic request seed of (run, round, attempt, sub-call)."""
        return int((self.seed_base + self.t * 7919 + attempt * 104729 + sub * 1299709) % (2**31 - 1))

    def request(self, messages: tuple[Message, ...], *, temperature: float, max_tokens: int,
                constraint: Constraint | None, attempt: int = 0, sub: int = 0, n: int = 1) -> LLMRequest:
        return LLMRequest(messages=messages, temperature=temperature, max_tokens=max_tokens, n=n,
                          seed=self.request_seed(attempt, sub), constraint=constraint)

    def ask(self, make_request: Callable[[int], LLMRequest], parse: Callable[[str], tuple[P | None, str | None]]
            ) -> Generator[list[LLMRequest], list[list[Completion]], Asked]:
        """Ask, parse, re-ask up to ``max_retries`` times. ``make_request(attempt)`` builds the request of an
        attempt; ``parse(text) -> (value, error)`` must not raise."""
        out = Asked()
        for attempt in range(self.params.max_retries + 1):
            (comps,) = yield [make_request(attempt)]
            c = comps[0]
            out.add(c)
            value, error = parse(c.text)
            if error is None:
                out.value = value
                return out
            out.errors.append(error)
        return out

    @staticmethod
    def usage_record(asked: Asked) -> dict[str, Any]:
        return {
            "text": asked.texts[-1] if asked.texts else "",
            "attempt_texts": asked.texts[:-1],
            "errors": asked.errors,
            "invalid": bool(asked.errors),
            "fallback": asked.value is None,
            "calls": asked.calls,
            "prompt_tokens": asked.prompt_tokens,
            "completion_tokens": asked.completion_tokens,
            "latency_s": round(asked.latency_s, 6),
            "cache_hits": asked.cache_hits,
        }

