"""The LLM bandit agent: Krishnamurthy et al.'s prompt designs (``expobench.envs.bandit_text``) driven through an LLM.

One decision:

- no chain of thought: one constrained call (choice over arm names, or the distribution regex);
- chain of thought (``C``/``R``): a free reasoning call (``cot_max_tokens``), then the constrained answer in a
  second call that sees the reasoning -- constrained decoding after free text in one call can stall sampling;
- a distribution answer is renormalised and the arm is sampled with the run's rng.

Prompt score (METHODS §4.1): ``s_t = Σ_i p_i μ̂_i`` with ``p`` the answer's distribution (one-hot for one arm)
and ``μ̂`` the empirical means before the round (0 for arms never played). A decision that fell back scores the
lowest empirical mean: failures are data for the optimiser.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, field_validator

from expobench.agents.base import Decision, DecisionGen
from expobench.agents.llm.metaprompt import LazyTexts, MetaPrompt, ProposalContext
from expobench.agents.llm.types import LLMRequest, Message
from expobench.agents.llm_agent import Asked, LLMAgent, LLMAgentParams
from expobench.agents.registry import register_agent
from expobench.envs import bandit_text as bt


class LLMBanditParams(LLMAgentParams):
    design: str = Field("BSSND", description="Prompt design code, e.g. BSSND, BSSC0 (see envs.bandit_text).")
    cot_max_tokens: int = Field(96, ge=8, description="Token limit of the free reasoning call (CoT designs).")
    fallback: Literal["greedy", "uniform"] | int = Field(
        "greedy",
        description="Arm played when no answer parses: greedy (best empirical mean, ties at random), uniform "
        "(uniform random), or a fixed arm index. Always counted as a fallback.",
    )

    labels: Literal["natural", "permuted"] = Field(
        "natural",
        description="Arm names: natural (arm 0 = blue / A, as in the paper) or permuted per run from the run's "
        "seed, so that a preference for one colour or letter is not tied to one arm. The task text then differs "
        "per seed, so shipped candidate pools (matched on the start (D, I)) do not apply: a pool is generated per "
        "seed, or give pool.path.",
    )

    @field_validator("design")
    @classmethod
    def _design(cls, v: str) -> str:
        bt.Design(v)
        return v


@register_agent
class LLMBanditAgent(LLMAgent):
    kind = "llm_bandit"
    Params = LLMBanditParams

    def task_reset(self, env: gym.Env) -> None:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise TypeError(f"llm_bandit needs a bandit env, got action space {env.action_space}")
        self.n_arms = int(env.action_space.n)
        self.design = bt.Design(self.params.design)
        if self.params.labels == "permuted":
            natural = bt.arm_names(self.design.scenario, self.n_arms)
            self.design = bt.Design(self.params.design, tuple(natural[j] for j in self.rng.permutation(self.n_arms)))
        self.names = self.design.names(self.n_arms)
        self.stationary = bool(env.metadata.get("expobench.stationary", True))
        fb = self.params.fallback
        if isinstance(fb, int) and not 0 <= fb < self.n_arms:
            raise ValueError(f"fallback arm {fb} outside [0, {self.n_arms})")
        self.actions: list[int] = []
        self.rewards: list[float] = []

    def base_meta_prompt(self) -> MetaPrompt:
        return MetaPrompt(bt.task_description(self.design, self.n_arms, self.horizon, self.stationary),
                          bt.meta_instruction(self.design, self.n_arms))

    def proposal_context(self) -> ProposalContext:
        """Summarised history: the K cyclic rotations of the arm order (index 0 = natural order). Raw: one."""
        K = self.n_arms
        orders = [[(s + i) % K for i in range(K)] for s in range(K)] if self.design.summarised else [None]
        actions, rewards = list(self.actions), list(self.rewards)  # the texts may be rendered after this step

        def candidate(j: int) -> str:
            return bt.render_history(self.design, K, actions, rewards, orders[j])

        def recent() -> str:  # the last 10 rounds, raw, with their true round numbers
            raw = dataclasses.replace(self.design, code=self.design.code[:2] + "R" + self.design.code[3:])
            lines = bt.render_history(raw, K, actions, rewards).splitlines()
            return "\n".join(lines[:1] + lines[1:][-10:])

        return ProposalContext(t=self.t, exemplar_candidates=LazyTexts(len(orders), candidate), heuristic=0,
                               fixed_domain=True, recent_text=recent, horizon=self.horizon)

    # -- one decision --------------------------------------------------------------------------------------
    def messages(self, mp: MetaPrompt) -> tuple[Message, ...]:
        """System: D and I (static, first, so prefix caches reuse it); user: history, then the question."""
        system = f"{mp.description}\n\n{mp.instruction}"
        user = f"{mp.exemplars or bt.render_history(self.design, self.n_arms, [], [])}\n\n" \
               f"{bt.question(self.design, self.n_arms, self.t, self.horizon)}"
        return (Message("system", system), Message("user", user))

    def decide_with(self, mp: MetaPrompt) -> DecisionGen:
        d, K = self.design, self.n_arms
        base = self.messages(mp)
        constraint = bt.answer_constraint(d, K)

        def parse(text: str) -> tuple[tuple[float, ...] | None, str | None]:
            r = bt.parse_answer(text, d, K)
            return r.probs, r.error

        reasoning = Asked()
        if d.cot:
            (comps,) = yield [self.request(base, temperature=d.temperature, max_tokens=self.params.cot_max_tokens,
                                           constraint=None, sub=1)]
            reasoning.add(comps[0])
            thought = comps[0].text
            answer_msgs = (*base, Message("assistant", thought), Message("user", bt.final_answer_prompt(d, K)))
        else:
            thought, answer_msgs = None, base

        def make(attempt: int) -> LLMRequest:
            return first_request if attempt == 0 else self.request(
                answer_msgs, temperature=d.temperature, max_tokens=self.params.max_tokens, constraint=constraint,
                attempt=attempt)

        first_request = self.request(answer_msgs, temperature=d.temperature, max_tokens=self.params.max_tokens,
                                     constraint=constraint, attempt=0)

        asked = yield from self.ask(make, parse)
        asked.merge(reasoning)
        means = self.empirical_means()
        if asked.value is not None:
            probs = np.asarray(asked.value)
            arm = int(self.rng.choice(K, p=probs)) if d.distribution else int(np.argmax(probs))
            score = float(probs @ means)
        else:
            arm = self.fallback_arm(means)
            probs = None
            score = float(means.min())
        record = self.usage_record(asked)
        record.update(prompt_hash=first_request.digest(), probs=None if probs is None else [round(p, 6) for p in probs],
                      prompt_score=score, design=d.code)
        if d.labels is not None:
            record["labels"] = list(d.labels)
        if thought is not None:
            record["reasoning"] = thought
        return Decision(arm, record)

    def empirical_means(self) -> np.ndarray:
        counts = np.bincount(self.actions, minlength=self.n_arms).astype(float)
        sums = np.bincount(self.actions, weights=self.rewards, minlength=self.n_arms) if self.actions \
            else np.zeros(self.n_arms)
        return np.divide(sums, counts, out=np.zeros(self.n_arms), where=counts > 0)

    def fallback_arm(self, means: np.ndarray) -> int:
        fb = self.params.fallback
        if isinstance(fb, int):
            return fb
        if fb == "uniform":
            return int(self.rng.integers(self.n_arms))
        best = np.flatnonzero(means == means.max())
        return int(self.rng.choice(best))

    def task_observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        self.actions.append(int(action))
        self.rewards.append(float(reward))

    # -- off-line scoring hooks (GPO) ---------------------------------------------------------------------
    def task_state_at(self, lag: int) -> None:
        self.actions = self.actions[:self.t]
        self.rewards = self.rewards[:self.t]

    def prompt_score_definition(self) -> str:
        return ("the expected reward of the agent's choice under the average rewards observed so far "
                "(Σ p_i·mean_i over its answer distribution p), from 0 to 1; higher is better")
