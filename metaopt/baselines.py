"""Baseline meta-prompt optimisers (METHODS §6): uniform random over the pool, sliding-window UCB over the pool,
and OPRO at the meta-prompt level. (The fixed meta-prompt is :class:`expobench.metaopt.base.Fixed`.)"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
from pydantic import Field

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext, ProposeGen
from expobench.agents.llm.types import LLMRequest, Message
from expobench.metaopt.base import MetaPromptOptimizer, OptimizerParams
from expobench.metaopt.expo import PoolOptimizer


class RandomPoolParams(OptimizerParams):
    optimize: Literal["both", "description", "instruction"] = Field("both", description="Components varied.")


class RandomPool(PoolOptimizer):
    """Uniform over the pool every iteration (the first iteration uses the originals)."""

    kind = "random"
    Params = RandomPoolParams
    needs_embedder = False

    def reset(self, rng: np.random.Generator) -> None:
        self.rng, self.t, self.choice = rng, 0, (0, 0)

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        self.choice = (0, 0) if self.t == 0 else self.arm(int(self.rng.integers(self.n_arms)))
        return self.meta_prompt(*self.choice, ctx)

    def update(self, score: float, info: dict[str, Any]) -> None:
        self.t += 1

    def record(self) -> dict[str, Any]:
        return {"d": self.choice[0], "i": self.choice[1], "entropy": round(float(np.log(self.n_arms)), 6)}

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t = state["t"]
        self.rng.bit_generator.state = state["rng"]


class SWUCBPoolParams(RandomPoolParams):
    window: int = Field(50, ge=1, description="Iterations that enter the statistics.")
    c: float = Field(2.0, gt=0, description="Bonus sqrt(c · ln min(t, window) / n_arm).")


class SlidingWindowUCBPool(RandomPool):
    """Sliding-window UCB over the pool's arms: a non-stationary *stochastic* bandit, no score network.
    Arms never tried (in the window) come first, in random order."""

    kind = "sw_ucb_pool"
    Params = SWUCBPoolParams

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.history: list[tuple[int, float]] = []

    def ucb(self) -> np.ndarray:
        counts = np.zeros(self.n_arms)
        sums = np.zeros(self.n_arms)
        for arm, s in self.history[-self.params.window:]:
            counts[arm] += 1
            sums[arm] += s
        n = max(min(len(self.history), self.params.window), 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = sums / counts + np.sqrt(self.params.c * np.log(n) / counts)
        return np.where(counts > 0, value, np.inf)

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        if self.t == 0:
            self.choice = (0, 0)
        else:
            u = self.ucb()
            self.choice = self.arm(int(self.rng.choice(np.flatnonzero(u == u.max()))))
        return self.meta_prompt(*self.choice, ctx)

    def update(self, score: float, info: dict[str, Any]) -> None:
        self.history.append((self.choice[0] * self.n_i + self.choice[1], float(score)))
        self.t += 1

    def record(self) -> dict[str, Any]:
        return {"d": self.choice[0], "i": self.choice[1]}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.history = [(int(a), float(s)) for a, s in state["history"]]


MARKED = re.compile(r"<START>(.*?)<END>", re.S)


def parse_marked(text: str, lenient: bool = False) -> str | None:
    """The text between ``<START>`` and ``<END>`` (the last such span), stripped; None if absent or empty.

    ``lenient`` (GPO): a reply whose last ``<START>`` has no closing ``<END>`` (cut off by the token limit, or
    the marker forgotten) gives the rest of the reply after it; a reply without ``<START>`` still fails."""
    text = text or ""
    found = MARKED.findall(text)
    if lenient:
        head, sep, tail = text.rpartition("<START>")
        if sep and "<END>" not in tail:
            return tail.strip() or None
    return found[-1].strip() or None if found else None


class OPROMetaParams(OptimizerParams):
    component: Literal["instruction", "description"] = Field(
        "instruction", description="Which part of the meta-prompt the optimiser LLM rewrites."
    )
    every: int = Field(5, ge=1, description="Iterations each written meta-prompt is used before the next one.")
    max_shown: int = Field(10, ge=1, description="Most past meta-prompts shown (the best ones, ascending score).")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature of the optimiser LLM.")
    max_tokens: int = Field(256, ge=16, description="Token limit of a written meta-prompt.")


class OPROMeta(MetaPromptOptimizer):
    """OPRO at the meta-prompt level: the optimiser LLM sees past texts with their mean prompt scores in
    ascending order and writes a new one (between <START> and <END>). A reply without markers is a counted
    failure and the best text so far is kept."""

    kind = "opro"
    Params = OPROMetaParams

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t = 0
        self.current = self._text(self.base)
        self.scores: dict[str, list[float]] = {self.current: []}
        self.failures = 0

    def _text(self, mp: MetaPrompt) -> str:
        return mp.instruction if self.params.component == "instruction" else mp.description

    def _mp(self, text: str, ctx: ProposalContext) -> MetaPrompt:
        ex = ctx.exemplar_candidates[ctx.heuristic] if ctx.exemplar_candidates else None
        if self.params.component == "instruction":
            return MetaPrompt(self.base.description, text, ex, {"e": ctx.heuristic})
        return MetaPrompt(text, self.base.instruction, ex, {"e": ctx.heuristic})

    def request(self) -> LLMRequest:
        what = "instruction" if self.params.component == "instruction" else "task description"
        scored = sorted(((float(np.mean(v)), k) for k, v in self.scores.items() if v))[-self.params.max_shown:]
        shown = "\n\n".join(f"Text:\n{k}\nScore: {s:.3f}" for s, k in scored)
        user = (f"Below are {what}s for an agent that makes decisions, each with the score the agent reached "
                f"with it (higher is better), from worst to best.\n\n{shown}\n\nWrite a new {what} that differs "
                f"from all of the above and should reach a higher score. Keep every fact and answer format they "
                f"require. Put the new text between <START> and <END>.")
        return LLMRequest((Message("user", user),), temperature=self.params.temperature,
                          max_tokens=self.params.max_tokens, seed=int(self.rng.integers(2**31 - 1)), role="optimizer")

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        if self.t > 0 and self.t % self.params.every == 0:
            (comps,) = yield [self.request()]
            new = parse_marked(comps[0].text)
            if new is None:
                self.failures += 1
            else:
                self.current = new
                self.scores.setdefault(new, [])
        return self._mp(self.current, ctx)

    def update(self, score: float, info: dict[str, Any]) -> None:
        self.scores[self.current].append(float(score))
        self.t += 1

    def record(self) -> dict[str, Any]:
        return {"candidates": len(self.scores), "failures": self.failures}

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "current": self.current, "scores": self.scores, "failures": self.failures,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t, self.current, self.failures = state["t"], state["current"], state["failures"]
        self.scores = {k: list(v) for k, v in state["scores"].items()}
        self.rng.bit_generator.state = state["rng"]


