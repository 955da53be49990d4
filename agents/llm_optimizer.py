"""LLM optimiser agents: OPRO-style (Yang et al. 2023; METHODS §4.2-4.5) for linear regression, TSP, black-box
functions and tabular HPO, and the LLAMBO-style candidate sampler (§4.4).

Each iteration asks ``n_proposals`` times with the same meta-prompt. The protocol comes from the env
(``env.protocol``, read by the task; ``expo`` when the env has none):

- ``expo`` (default): the first proposal at temperature 0, the rest at 1; D and I in the system message, the
  exemplars in the user message.
- ``opro`` (OPRO's scripts, METHODS §4.2-4.3): every sample at temperature 1; one user message holding D, the
  exemplars and I last. Tasks that ask for it (TSP: ``resample``) re-sample until ``n_proposals`` valid answers
  are collected, at most ``max_resample_rounds`` extra rounds each asking for the missing ones; linear
  regression (``dedupe_step``) evaluates a pair proposed twice in one step once, as OPRO does.

The warm start is the env's (shared by every agent of a seed) and counts as observations. Every valid proposal is
evaluated and enters the history, as in OPRO; the iteration's action (what the env scores) is the best proposal of
the batch; the record lists every evaluation (``evaluated``, re-sampled ones included), so metrics count
evaluations, not iterations, and counts ``invalid_samples`` and ``resample_rounds``. Exemplars (task heuristic):
the top ``n_exemplars`` solutions by value (default: the task's, 20; 10 for TSP under opro), worst first, best
last. Prompt score: ``(b_s − v) / b_s`` for the value v of the first proposal (the temperature-0 one under expo;
under opro the first sample), ``b_s`` the worst warm-start value; an invalid first proposal scores 0. Proposals
that parse but are invalid (a tour missing a node, a pair out of range) are counted failures; an iteration without
any valid proposal plays the best solution so far (declared fallback, counted).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Decision, DecisionGen
from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.agents.llm.types import LLMRequest, Message
from expobench.agents.llm_agent import LLMAgent, LLMAgentParams
from expobench.agents.registry import register_agent
from expobench.envs.opro_text import OptimizationTask, task_for


class OPROAgentParams(LLMAgentParams):
    n_proposals: int = Field(8, ge=1, description=(
        "Proposals per iteration: protocol expo 1 at temperature 0, the rest at 1; opro all at 1."))
    n_exemplars: int | None = Field(None, ge=1, description=(
        "Solutions shown (the best ones, worst first, best last); None: the task's (20; TSP under opro 10)."))
    warm_start: int = Field(5, ge=1, description=(
        "Initial solutions, shown with their values: the env's (shared by the agents of a seed), more drawn alike."))
    max_resample_rounds: int = Field(10, ge=0, description=(
        "TSP under opro: extra sampling rounds per iteration, each asking for the missing valid tours."))
    enhanced: bool = Field(False, description="Enhanced OPRO: one sentence that spells out the ordering.")
    max_tokens: int = Field(64, ge=8, description="Token limit of a proposal.")
    es_pool: int = Field(30, ge=1, description="EXPO-ES: exemplar candidates are subsets of the top es_pool records.")
    es_candidates: int = Field(32, ge=1, description="EXPO-ES: candidate exemplar sequences per iteration.")


@register_agent
class OPROAgent(LLMAgent):
    kind = "llm_opro"
    Params = OPROAgentParams

    def task_reset(self, env: gym.Env) -> None:
        self.task: OptimizationTask = task_for(env)
        self.records: list[tuple[Any, float]] = []
        rng = getattr(self, "rng", None)
        for sol in self.task.warm_start(rng if rng is not None else np.random.default_rng(0), self.params.warm_start):
            self.records.append((sol, self.task.value(sol)))
        self.b_s = max(v for _, v in self.records)
        self.n_initial = len(self.records)

    def initial_evaluations(self) -> list[tuple[Any, float]]:
        return [(self.task.to_action(s), -v) for s, v in self.records[:self.n_initial]]

    @property
    def protocol(self) -> str:
        """The task's protocol (``expo`` or ``opro``), as its env declares it."""
        return getattr(self.task, "protocol", None) or getattr(getattr(self, "env", None), "protocol", "expo")

    @property
    def n_exemplars(self) -> int:
        return self.params.n_exemplars or int(getattr(self.task, "n_exemplars", 20))

    def temperature(self, k: int) -> float:
        """Sampling temperature of proposal ``k`` of an iteration: expo 0 for the first, 1 for the rest; opro 1."""
        return 1.0 if k > 0 or self.protocol == "opro" else 0.0

    def base_meta_prompt(self) -> MetaPrompt:
        return MetaPrompt(self.task.description(self.params.enhanced), self.task.instruction())

    def _heuristic(self) -> list[tuple[Any, float]]:
        unique: dict[str, tuple[Any, float]] = {}
        for s, v in self.records:
            unique.setdefault(repr(s), (s, v))
        best = sorted(unique.values(), key=lambda r: r[1])[: self.n_exemplars]
        return best[::-1]

    def proposal_context(self) -> ProposalContext:
        heuristic = self._heuristic()
        cands = [self.task.render_exemplars(heuristic)]
        L = self.n_exemplars
        if len(heuristic) >= L and self.params.es_candidates > 1:
            pool = sorted({repr(s): (s, v) for s, v in self.records}.values(), key=lambda r: r[1])
            pool = pool[: self.params.es_pool]
            for _ in range(self.params.es_candidates - 1):
                idx = self.rng.choice(len(pool), size=min(L, len(pool)), replace=False)
                cands.append(self.task.render_exemplars([pool[i] for i in idx]))
        return ProposalContext(t=self.t, exemplar_candidates=cands, heuristic=0, fixed_domain=False,
                               recent_text=cands[0][-1500:], horizon=self.horizon)

    def messages(self, mp: MetaPrompt) -> tuple[Message, ...]:
        if self.protocol == "opro":  # OPRO: one prompt, the instruction after the exemplars
            return (Message("user", f"{mp.description}\n\n{mp.exemplars or ''}{self.user_suffix()}\n\n"
                                    f"{mp.instruction}"),)
        return (Message("system", f"{mp.description}\n\n{mp.instruction}"),
                Message("user", (mp.exemplars or "") + self.user_suffix()))

    def user_suffix(self) -> str:
        """Text after the exemplars in the user message (none for OPRO)."""
        return ""

    def decide_with(self, mp: MetaPrompt) -> DecisionGen:
        msgs = self.messages(mp)
        constraint = self.task.constraint()
        n = self.params.n_proposals
        resample = bool(getattr(self.task, "resample", False))
        dedupe = bool(getattr(self.task, "dedupe_step", False))

        def request(k: int, rnd: int) -> LLMRequest:
            return LLMRequest(msgs, temperature=self.temperature(k), max_tokens=self.params.max_tokens,
                              seed=self.request_seed(rnd, k), constraint=constraint)

        reqs = [request(k, 0) for k in range(n)]
        prompt_hash = reqs[0].digest()
        proposals, errors, texts, seen = [], [], [], set()
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "cache_hits": 0, "calls": 0}
        first: float | None = None
        n_valid = duplicates = rounds = k0 = 0
        while True:
            answers = yield reqs
            for j, comps in enumerate(answers):
                k, c = k0 + j, comps[0]
                texts.append(c.text)
                usage["prompt_tokens"] += c.prompt_tokens
                usage["completion_tokens"] += c.completion_tokens
                usage["cache_hits"] += int(c.cached)
                usage["calls"] += 1
                sol, err = self.task.parse(c.text)
                if err is not None:
                    errors.append(f"proposal {k}: {err}")
                    continue
                n_valid += 1
                value = self.task.value(sol)
                if k == 0:
                    first = value
                if dedupe and repr(sol) in seen:
                    duplicates += 1
                    continue
                seen.add(repr(sol))
                proposals.append((k, sol, value))
            k0 += len(answers)
            missing = n - n_valid
            if not resample or missing <= 0 or rounds >= self.params.max_resample_rounds:
                break
            rounds += 1
            reqs = [request(k0 + j, rounds) for j in range(missing)]
        score = self.task.prompt_score(first, self.b_s)
        for _, s, v in proposals:
            self.records.append((s, v))
        fallback = not proposals
        if fallback:
            best_sol, best_val = min(self.records, key=lambda r: r[1])
        else:
            _, best_sol, best_val = min(proposals, key=lambda r: r[2])
        record = {**usage, "text": texts[0] if texts else "", "texts": texts, "errors": errors,
                  "invalid": first is None, "fallback": fallback, "valid_proposals": len(proposals),
                  "invalid_samples": len(errors), "resample_rounds": rounds,
                  "prompt_score": score, "prompt_hash": prompt_hash, "best_value": best_val,
                  "evaluated": [-v for _, _, v in proposals],
                  "proposed": [self.task.to_action(s) for _, s, _ in proposals]}
        if dedupe:
            record["duplicates"] = duplicates
        return Decision(self.task.to_action(best_sol), record)

    def task_observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        pass

    # -- off-line scoring hooks (GPO) ---------------------------------------------------------------------
    def task_mark(self) -> int:
        """Records held at the start of an iteration (warm start included)."""
        return len(self.records)

    def task_state_at(self, lag: int) -> None:
        """A probe: the records as they were ``lag`` iterations ago (a copy); only the first proposal (temperature
        0 under protocol expo), which is all the prompt score reads, and no resampling rounds."""
        self.records = list(self.records[:self.state_marks[self.t]])
        self.params = self.params.model_copy(update={"n_proposals": 1, "max_resample_rounds": 0})

    def probe_exemplars(self) -> str:
        return self.task.render_exemplars(self._heuristic())

    def prompt_score_definition(self) -> str:
        return ("the improvement of the value of the agent's temperature-0 proposal over the worst initial "
                f"{self.task.noun}, as a share of the most possible (0: no better, or invalid; 1: optimal); higher "
                "is better")

    def recent_interactions(self, rounds: int = 5) -> str:
        """The best valid proposal of each of the last ``rounds`` iterations, with its true round number."""
        marks, lines = self.state_marks, []
        for r in range(max(0, self.t - rounds), self.t):
            batch = self.records[marks[r]:marks[r + 1]]
            if batch:
                s, v = min(batch, key=lambda x: x[1])
                lines.append(f"Round {r + 1} ({len(batch)} valid proposals), the best:\n{self.task.render_one(s, v)}")
            else:
                lines.append(f"Round {r + 1}: no valid proposal")
        return "\n\n".join(lines) if lines else "No rounds have been played yet."


class LLAMBOAgentParams(OPROAgentParams):
    target_alpha: float = Field(0.1, ge=0.0, description="Target value best − α·(observed range) asked for.")


@register_agent
class LLAMBOAgent(OPROAgent):
    """LLAMBO-style candidate sampler (METHODS §4.4): the OPRO prompt plus, after the exemplars, the target value
    ``s* = best − α·(observed range)`` (lower is better) that the proposal should reach; everything else (history,
    proposals, prompt score, meta-prompt optimisers) as for OPRO."""

    kind = "llm_llambo"
    Params = LLAMBOAgentParams

    def user_suffix(self) -> str:
        target = self.task.target_value([v for _, v in self.records], self.params.target_alpha)
        return (f"\n\nPropose a {self.task.noun} whose value should be about {target:.6g} (better than the best "
                "so far).")
