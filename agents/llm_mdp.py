"""The LLM agent of the tabular MDPs (``llm_mdp``): the prompt designs of ``expobench.envs.mdp_text`` driven
through an LLM, one action per decision, constrained to the action names.

One decision:

- no chain of thought: one constrained call (a choice over the action names);
- chain of thought (``C``/``R``): a free reasoning call (``cot_max_tokens``), then the constrained answer in a
  second call that sees the reasoning.

Messages: system = D and I (static, so prefix caches reuse it); user = the history E (raw transitions or the
per-state summary), then the current state (a map for the grid worlds) and the question.

Meta-prompt optimisers (``propose_per``):

- ``episode`` (the default): the optimiser proposes at the first decision of each episode, the agent keeps that
  (D, I) and exemplar choice for the whole episode (the exemplars rendered from the history of each decision), and
  the optimiser is fed the **episode's normalised return** ``info["episode_score"]`` -- the realised return scaled
  between the worst and the best policy from the episode's start state, in [0, 1] -- once, when the episode ends.
- ``decision``: a proposal and an update every decision, fed the decision's own prompt score.

Every decision's record carries ``prompt_score``: the **normalised value of the action taken**,
``(Q*_h(s, a) − V_min,h(s)) / (V*_h(s) − V_min,h(s))`` in [0, 1] from the env's oracle -- the expected return of
the action followed by optimal play, scaled between the worst and the best policy from that state (1 when every
action is equally good); a decision that fell back scores 0. It is what ``propose_per: decision`` feeds back,
and what GPO's off-line scoring of a candidate on a frozen state measures.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, field_validator

from expobench.agents.base import Decision, DecisionGen
from expobench.agents.llm.metaprompt import LazyTexts, MetaPrompt, ProposalContext
from expobench.agents.llm.types import LLMRequest, Message
from expobench.agents.llm_agent import Asked, LLMAgent, LLMAgentParams
from expobench.agents.registry import register_agent
from expobench.envs import mdp_text as mt
from expobench.envs.mdp import TabularMDPEnv


class LLMMDPParams(LLMAgentParams):
    design: str = Field("SSN0", description="Prompt design code, e.g. SSN0, NRC0 (see envs.mdp_text).")
    cot_max_tokens: int = Field(96, ge=8, description="Token limit of the free reasoning call (CoT designs).")
    history_window: int = Field(20, ge=1, description="Raw histories show the last `history_window` transitions.")
    max_states: int = Field(16, ge=1, description="Summaries list at most this many (most recently visited) states.")
    max_tokens: int = Field(8, ge=1, description="Token limit of an answer (one action name).")
    fallback: Literal["uniform"] | int = Field(
        "uniform", description="Action played when no answer parses: uniform (at random) or a fixed action index. "
        "Always counted as a fallback.")
    propose_per: Literal["episode", "decision"] = Field(
        "episode", description="How often the run's meta-prompt optimiser proposes: once per episode, fed the "
        "episode's return normalised between the worst and the best policy (info episode_score), or every "
        "decision, fed the normalised value of the action taken (prompt_score).")

    @field_validator("design")
    @classmethod
    def _design(cls, v: str) -> str:
        mt.MDPDesign(v)
        return v


@register_agent
class LLMMDPAgent(LLMAgent):
    kind = "llm_mdp"
    Params = LLMMDPParams

    def task_reset(self, env: gym.Env) -> None:
        if not isinstance(env, TabularMDPEnv):
            raise TypeError(f"llm_mdp needs a tabular MDP env (expobench.envs.mdp), got {type(env).__name__}")
        self.design = mt.MDPDesign(self.params.design)
        fb = self.params.fallback
        if isinstance(fb, int) and not 0 <= fb < env.n_actions:
            raise ValueError(f"fallback action {fb} outside [0, {env.n_actions}) ({', '.join(env.action_names)})")
        self.transitions: list[mt.Transition] = []
        self.episodes = mt.EpisodeLog()
        self.where = (int(env.state), int(env.episode), int(env.h))  # state, episode, step of the next decision

    def base_meta_prompt(self) -> MetaPrompt:
        return MetaPrompt(mt.task_description(self.design, self.env), mt.meta_instruction(self.design, self.env))

    def proposal_context(self) -> ProposalContext:
        """Summary designs: one candidate per order of the state lines (:data:`mt.SUMMARY_ORDERS`, index 0 = most
        recent first, the heuristic). Raw: one."""
        orders = list(mt.SUMMARY_ORDERS) if self.design.summarised else ["recent"]
        transitions, episodes = list(self.transitions), mt.EpisodeLog(list(self.episodes.returns),
                                                                      list(self.episodes.goals))
        p = self.params

        def candidate(j: int) -> str:
            return mt.render_history(self.design, self.env, transitions, episodes, orders[j], p.history_window,
                                     p.max_states)

        def recent() -> str:
            raw = mt.MDPDesign("NR" + self.design.code[2:])
            return mt.render_history(raw, self.env, transitions, episodes, window=10)

        return ProposalContext(t=self.t, exemplar_candidates=LazyTexts(len(orders), candidate), heuristic=0,
                               fixed_domain=True, recent_text=recent, horizon=self.horizon)

    # -- one decision --------------------------------------------------------------------------------------
    def messages(self, mp: MetaPrompt) -> tuple[Message, ...]:
        state, episode, step = self.where
        history = mp.exemplars or mt.render_history(self.design, self.env, [], self.episodes)
        user = f"{history}\n\n{mt.question(self.design, self.env, state, episode, step)}"
        return (Message("system", f"{mp.description}\n\n{mp.instruction}"), Message("user", user))

    def decide_with(self, mp: MetaPrompt) -> DecisionGen:
        d, env = self.design, self.env
        base = self.messages(mp)
        constraint = mt.answer_constraint(env)

        def parse(text: str) -> tuple[int | None, str | None]:
            r = mt.parse_action(text, env.action_names)
            return r.action, r.error

        reasoning = Asked()
        if d.cot:
            (comps,) = yield [self.request(base, temperature=d.temperature, max_tokens=self.params.cot_max_tokens,
                                           constraint=None, sub=1)]
            reasoning.add(comps[0])
            thought = comps[0].text
            answer_msgs = (*base, Message("assistant", thought), Message("user", mt.final_answer_prompt(env)))
        else:
            thought, answer_msgs = None, base

        def make(attempt: int) -> LLMRequest:
            return self.request(answer_msgs, temperature=d.temperature, max_tokens=self.params.max_tokens,
                                constraint=constraint, attempt=attempt)

        first_request = make(0)
        asked = yield from self.ask(lambda attempt: first_request if attempt == 0 else make(attempt), parse)
        asked.merge(reasoning)
        if asked.value is not None:
            action, score = int(asked.value), self.action_value(int(asked.value))
        else:
            action, score = self.fallback_action(), 0.0
        record = self.usage_record(asked)
        record.update(prompt_hash=first_request.digest(), prompt_score=score, design=d.code,
                      answer=env.action_names[action])
        if thought is not None:
            record["reasoning"] = thought
        return Decision(action, record)

    def proposes_now(self) -> bool:
        return self.params.propose_per == "decision" or self.where[2] == 0

    def optimizer_score(self, record: dict[str, Any], info: dict[str, Any]) -> float | None:
        if self.params.propose_per == "decision":
            return super().optimizer_score(record, info)
        return float(info["episode_score"]) if info.get("episode_end") else None

    def action_value(self, action: int) -> float:
        """The normalised value of ``action`` at the current state and step (module docstring), in [0, 1]."""
        state, _, h = self.where
        env = self.env
        best, worst = env.V[h, state], env.V_min[h, state]
        if best - worst <= 1e-12:
            return 1.0
        return float(np.clip((env.Q[h, state, action] - worst) / (best - worst), 0.0, 1.0))

    def fallback_action(self) -> int:
        fb = self.params.fallback
        return fb if isinstance(fb, int) else int(self.rng.integers(self.env.n_actions))

    def task_observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        self.transitions.append(mt.Transition(
            int(info["episode"]), int(info["episode_step"]), int(info["state"]), int(action), float(reward),
            None if info["terminal"] else int(info["next_state"]), bool(info["episode_end"])))
        if info["episode_end"]:
            self.episodes.returns.append(float(info["episode_return"]))
            self.episodes.goals.append(bool(info["episode_goal"]))
        self.where = (int(self.env.state), int(self.env.episode), int(self.env.h))

    # -- off-line scoring hooks (GPO) ---------------------------------------------------------------------
    def task_mark(self) -> Any:
        return (len(self.transitions), len(self.episodes.returns), self.where)

    def task_state_at(self, lag: int) -> None:
        n_tr, n_ep, where = self.state_marks[self.t]
        self.transitions = self.transitions[:n_tr]
        self.episodes = mt.EpisodeLog(self.episodes.returns[:n_ep], self.episodes.goals[:n_ep])
        self.where = where

    def prompt_score_definition(self) -> str:
        return ("the value of the agent's action relative to the best and the worst action available in that "
                "state (expected return with optimal play afterwards), from 0 to 1; higher is better")
