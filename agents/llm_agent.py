"""Base class of LLM agents: request seeds, parse-retry-fallback, per-step records.

An LLM agent acts with a meta-prompt it is given. Every decision, as the runner composes it with the run's
meta-prompt optimiser (``expobench.experiments.optimizers``; the agent never sees the optimiser)::

    ctx = agent.proposal_context()                       # the task's exemplar candidates (E) for this round
    mp  = yield from optimizer.propose_steps(ctx)        # Q = (D, I, E); may itself ask an LLM (GPO, OPRO)
    decision = yield from agent.decide_with(mp)          # task-specific: render, ask, parse; reports prompt_score
    ... env.step, agent.observe ...
    optimizer.update(agent.optimizer_score(decision.record, info))   # skipped when None

An agent may hold a meta-prompt over several decisions (an episode of an MDP): :meth:`proposes_now` says whether
the optimiser proposes for the next decision (else the held (D, I) and exemplar choice are used again, with the
exemplars rendered from the current history), and :meth:`optimizer_score` gives the score to feed back only
when the held prompt's trial ends.

On its own (``decide``), an agent acts with its fixed meta-prompt (:meth:`start_meta_prompt` and the task's
heuristic exemplars). Subclasses implement :meth:`base_meta_prompt`, :meth:`proposal_context`, :meth:`decide_with`, and
:meth:`task_observe`. :meth:`ask` runs one question through the parse → re-ask → fallback policy: a failed parse
is re-asked up to ``max_retries`` times (new request seeds), then the declared fallback is used; both events are
counted in the step's record (``invalid``: the first answer failed; ``fallback``: no answer parsed).

Off-line scoring (GPO, METHODS §5): :meth:`score_prompt` answers with a given meta-prompt on a *probe* -- a
shallow copy of the agent whose task state is cut back ``lag`` iterations by the agent's :meth:`task_state_at`
hook, with its own copies of every mutable object and of the rng -- and returns the answer's prompt score without
acting. Agents that do not implement the hook cannot be scored off-line (GPO's ``scoring: segment`` still works).
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Agent, AgentParams, DecisionGen
from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.agents.llm.types import Completion, Constraint, LLMRequest, Message

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

    def configure(self, *, agent_config: Any, experiment: Any, seed: int) -> None:
        """Called by the runner before ``reset``: the agent's config block, the experiment config, the run seed."""
        self.agent_config = agent_config
        self.experiment = experiment
        self.horizon = int(experiment.horizon)
        self.run_seed = seed

    # -- to implement --------------------------------------------------------------------------------------
    @abstractmethod
    def base_meta_prompt(self) -> MetaPrompt:
        """The hand-written (D0, I0) of this task and configuration."""

    @abstractmethod
    def proposal_context(self) -> ProposalContext:
        """What the task offers the optimiser this round: exemplar candidates (index ``heuristic`` is the task's
        default), recent history, the horizon."""

    @abstractmethod
    def decide_with(self, mp: MetaPrompt) -> DecisionGen:
        """Render the prompt from ``mp``, ask (yielding requests), parse; the Decision's record carries
        ``prompt_score`` (the score fed to the optimiser) and the usage fields of :meth:`usage_record`."""

    @abstractmethod
    def task_observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        """Task state update after a step (history, statistics)."""

    def proposes_now(self) -> bool:
        """Whether the run's optimiser proposes a meta-prompt for the next decision (default: every decision);
        False keeps the (D, I) and exemplar choice of the last one."""
        return True

    def optimizer_score(self, record: dict[str, Any], info: dict[str, Any]) -> float | None:
        """The score fed back to the run's optimiser after a step (``None``: no update this step). Default: the
        decision's own ``prompt_score``."""
        score = record.get("prompt_score")
        return None if score is None else float(score)

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
        self.held_meta_prompt: MetaPrompt | None = None  # the last meta-prompt it acted with (set by the runner)
        self.task_reset(env)
        self.state_marks = [self.task_mark()]

    def task_reset(self, env: gym.Env) -> None:
        """Task state at the start of a run (after ``self.env``/``self.rng`` are set)."""

    def decide(self, observation: Any) -> DecisionGen:
        """Decide with the fixed meta-prompt (the runner instead composes :meth:`decide_with` with the run's
        optimiser)."""
        mp = self.proposal_context().heuristic_prompt(self.start_meta_prompt())
        return (yield from self.decide_with(mp))

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        self.task_observe(action, reward, info)
        self.t += 1
        self.state_marks.append(self.task_mark())

    # -- off-line scoring (probes) -------------------------------------------------------------------------
    def task_mark(self) -> Any:
        """A small marker of the task state at the start of an iteration, kept for every iteration in
        ``state_marks`` (e.g. how many records a history held), so :meth:`task_state_at` can cut state back."""
        return None

    def task_state_at(self, lag: int) -> None:
        """Hook called on a probe (a shallow copy of this agent whose ``t`` is already ``lag`` iterations back,
        ``state_marks`` cut to match): make its task state what it was at the start of iteration ``t``, as fresh
        objects (copy lists, never append to the real agent's), and set anything a probe does differently."""
        raise NotImplementedError(f"agent {self.kind!r} cannot cut its task state back (no task_state_at)")

    def can_score_offline(self) -> bool:
        return type(self).task_state_at is not LLMAgent.task_state_at

    def probe(self, lag: int = 0) -> LLMAgent:
        """A copy of this agent as it was ``lag`` iterations ago; deciding with it leaves this agent untouched."""
        if not 0 <= lag <= self.t:
            raise ValueError(f"lag {lag} outside [0, {self.t}]")
        probe = copy.copy(self)
        probe.rng = copy.deepcopy(self.rng)
        probe.t = self.t - lag
        probe.state_marks = self.state_marks[:probe.t + 1]
        probe.task_state_at(lag)
        return probe

    def probe_exemplars(self) -> str | None:
        """The task heuristic's exemplars for this agent's state (a probe re-renders them for its earlier state)."""
        ctx = self.proposal_context()
        return ctx.exemplar_candidates[ctx.heuristic] if ctx.exemplar_candidates else None

    def score_prompt(self, mp: MetaPrompt, lag: int = 0) -> Generator[list[LLMRequest], list[list[Completion]], float]:
        """The prompt score of the answer this agent would give with ``mp`` at its state ``lag`` iterations back
        (the exemplars re-rendered for that state), without acting: the LLM requests are yielded like a decision's,
        so they batch with the others and a resumed run replays them."""
        probe = self.probe(lag)
        if lag and mp.exemplars is not None:
            mp = mp.with_exemplars(probe.probe_exemplars())
        decision = yield from probe.decide_with(mp)
        return float(decision.record["prompt_score"])

    def prompt_score_definition(self) -> str:
        """One line saying what the prompt score measures (shown to an optimiser LLM)."""
        return "how good the agent's answer was at that point of the run, from 0 to 1; higher is better"

    def recent_interactions(self) -> str | None:
        """A short excerpt of recent interactions with their true round numbers, or None to use the proposal
        context's ``recent``."""
        return None

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

