"""The agent protocol shared by classical and LLM decision makers.

Life cycle of one run (driven by ``expobench.experiments.runner``)::

    agent.reset(env, rng)                    # once, env is the *unwrapped* Gymnasium env
    for t in range(horizon):
        decision = drive(agent.decide(obs))  # generator: may yield LLM requests, returns a Decision
        obs, reward, term, trunc, info = env.step(decision.action)
        agent.observe(decision.action, reward, info)

``decide`` is a generator so that the runner can advance many runs in lockstep: an LLM agent ``yield``\\ s a
list of :class:`~expobench.agents.llm.types.LLMRequest` and receives, via ``send``, one list of completions per request
(``request.n`` each); the runner gathers the requests of all runs of one step into one backend call. A
classical agent yields nothing: the default ``decide`` just wraps ``act``.

Agents draw randomness only from the ``rng`` given to ``reset`` so that a run is a pure function of its seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.agents.llm.types import Completion, LLMRequest

DecisionGen = Generator[list[LLMRequest], list[list[Completion]], "Decision"]


@dataclass
class Decision:
    """What an agent decided this step.

    ``record`` holds agent-specific, JSON-serialisable fields the run store keeps with the step (raw LLM text,
    parse status, prompt hashes, optimiser choices, ...). An agent that evaluates solutions besides the action it
    plays (an LLM optimiser scoring all its proposals) lists the expected rewards of every evaluation of the step,
    in order, under ``record["evaluated"]``; the metrics count evaluations from it (one per step without it). ``meta_prompt`` is the (D, I, E) an LLM agent used; the
    store keeps each distinct (D, I) once, by hash, so reports can show the text of the best meta-prompts.
    """

    action: Any
    record: dict[str, Any] = field(default_factory=dict)
    meta_prompt: MetaPrompt | None = None


def evaluation_count(record: dict[str, Any]) -> int:
    """How many evaluations a step made, from its record: ``len(record["evaluated"])``, else 1 (its action)."""
    return len(record["evaluated"]) if "evaluated" in record else 1


class AgentParams(BaseModel):
    """Base of every agent's parameter model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class Agent(ABC):
    """Base class. Subclasses set ``kind`` and ``Params`` and implement ``reset`` and ``observe``, and ``act``
    (classical agents) or ``decide`` (agents that ask an LLM or build a record). Registration refuses a class that
    misses any of them (:func:`expobench.agents.registry.register_agent`)."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type[AgentParams]] = AgentParams
    #: True for agents that call an LLM (they need an ``llm`` block in the config).
    uses_llm: ClassVar[bool] = False
    #: The run's number of decisions; the runner sets it before ``reset`` (agents that tune to the horizon read
    #: it, e.g. EXP3's γ).
    horizon: int | None = None

    def __init__(self, params: AgentParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    @abstractmethod
    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        """Start a run on the unwrapped ``env``; ``rng`` is the run's only source of randomness."""

    def act(self, observation: Any) -> Any:
        """The next action (classical agents); agents that override :meth:`decide` need not implement it."""
        raise NotImplementedError(f"{type(self).__name__} implements neither act nor decide")

    def decide(self, observation: Any) -> DecisionGen:
        return Decision(self.act(observation))
        yield  # pragma: no cover  (makes this a generator)

    def initial_evaluations(self) -> list[tuple[Any, float]]:
        """The ``(action, expected_reward)`` pairs the agent evaluated before its first decision (a warm start or
        an initial design), in order; the runner stores them with step 0, marked initial, and the metrics count them
        as observations (best-so-far at t = 0 is the best of them). None by default."""
        return []

    @abstractmethod
    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        """The outcome of the last action: reward and the env's ``info`` (oracle fields included)."""
