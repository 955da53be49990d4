"""GPO (Tang et al., AAAI 2025) as an online meta-prompt refiner (METHODS §5).

GPO treats prompt optimisation like gradient descent: the *trajectory* of step-best prompts is the momentum,
retrieved by relevance (cosine similarity of sentence embeddings); the *update* is a prompt written by an
optimiser LLM from the retrieved prompts with their scores, the current prompt and recent task interactions;
the *learning rate* is an edit budget ("change at most N words") that decays with a cosine schedule.

Online protocol (standalone, kind ``gpo``): the base prompt is used for ``segment`` iterations to get its score;
then each GPO step writes ``n_candidates`` candidates, uses each for ``segment`` iterations (its score is the
mean prompt score of its segment), and keeps the best candidate not already a step-best as the new current
prompt. ``EXPOGPO`` (kind ``expo_gpo``) instead feeds the candidates into EXPO's pool.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext, ProposeGen
from expobench.agents.llm.types import LLMRequest, Message
from expobench.metaopt.base import MetaPromptOptimizer, OptimizerParams
from expobench.metaopt.baselines import parse_marked
from expobench.metaopt.embeddings import Embedder
from expobench.metaopt.expo import EXPO, EXPOParams

Component = Literal["instruction", "description"]


def edit_budget(step: int, total: int, n_max: int = 50, n_min: int = 10,
                decay: Literal["cosine", "linear", "fixed", "warmup"] = "cosine", warmup: float = 0.1) -> int:
    """Words the optimiser may change at GPO step ``step`` of ``total``.

    cosine: ``N_min + (N_max − N_min)·½(1 + cos(π s/S))``; linear: straight line from N_max to N_min; fixed:
    N_max; warmup: linear rise from N_min to N_max over the first ``warmup`` share, then cosine.
    """
    total = max(total, 1)
    s = min(max(step, 0), total)
    if decay == "fixed":
        return n_max
    if decay == "linear":
        return round(n_max - (n_max - n_min) * s / total)
    if decay == "warmup":
        w = max(1, round(warmup * total))
        if s < w:
            return round(n_min + (n_max - n_min) * s / w)
        return round(n_min + (n_max - n_min) * 0.5 * (1 + math.cos(math.pi * (s - w) / max(total - w, 1))))
    return round(n_min + (n_max - n_min) * 0.5 * (1 + math.cos(math.pi * s / total)))


def retrieve(current: str, trajectory: list[tuple[str, float]], k: int, mode: str,
             embedder: Embedder | None) -> list[tuple[str, float]]:
    """The k−1 earlier prompts shown with the current one, ordered so that the most relevant comes last.

    relevance: cosine similarity to the current prompt (ascending); recency: the latest; importance: the
    highest-scoring (ascending score); none: nothing."""
    earlier = [(p, s) for p, s in trajectory if p != current]
    if mode == "none" or k <= 1 or not earlier:
        return []
    if mode == "recency":
        return earlier[-(k - 1):]
    if mode == "importance":
        return sorted(earlier, key=lambda x: x[1])[-(k - 1):]
    if embedder is None:
        raise ValueError("relevance retrieval needs an embedder")
    g = embedder.embed([current] + [p for p, _ in earlier])
    sims = g[1:] @ g[0]
    order = np.argsort(sims, kind="stable")[-(k - 1):]
    return [earlier[i] for i in order]


def refine_prompt(component: Component, current: tuple[str, float | None], retrieved: list[tuple[str, float]],
                  budget: int, recent: str, mode: Literal["generation", "editing"], reflection: str | None) -> str:
    """The optimiser LLM's instructions for one GPO update."""
    what = "instruction" if component == "instruction" else "task description"
    lines = [f"You improve the {what} that an AI agent reads before it makes each decision in a sequential task."]
    if retrieved:
        lines.append(f"Earlier versions of the {what} and the score the agent reached with each (higher is better):")
        lines += [f"<PROMPT>{p}</PROMPT> score: {s:.3f}" for p, s in retrieved]
    score = "not yet measured" if current[1] is None else f"{current[1]:.3f}"
    lines.append(f"The current {what} (score {score}):\n<PROMPT>{current[0]}</PROMPT>")
    if recent:
        lines.append(f"Recent interactions of the agent:\n{recent}")
    if reflection:
        lines.append(f"An analysis of what went wrong:\n{reflection}")
    if mode == "editing":
        lines.append(f"Edit the current {what} to raise the score. You may change at most {budget} words.")
    else:
        lines.append(f"Write an improved {what} that should raise the score. It may differ from the current one "
                     f"by at most {budget} words.")
    lines.append("Keep every fact, name and answer format it requires. Put only the new text between <START> "
                 "and <END>.")
    return "\n\n".join(lines)


def reflection_prompt(component: Component, current: str, recent: str) -> str:
    what = "instruction" if component == "instruction" else "task description"
    return (f"An AI agent read this {what} before each decision:\n<PROMPT>{current}</PROMPT>\n\nIts recent "
            f"interactions:\n{recent}\n\nIn at most three sentences, say what went wrong and what the {what} "
            f"should make clearer.")


class GPOParams(OptimizerParams):
    component: Literal["instruction", "description", "both"] = Field(
        "instruction", description="What GPO refines; 'both' alternates between them step by step."
    )
    n_candidates: int = Field(8, ge=1, description="Candidates written per GPO step (temperature 1).")
    segment: int = Field(5, ge=1, description="Iterations each candidate is used to score it.")
    k: int = Field(3, ge=1, description="Prompts shown per update: the current one plus k−1 retrieved.")
    trajectory: Literal["relevance", "recency", "importance", "none"] = Field(
        "relevance", description="How earlier step-best prompts are retrieved."
    )
    n_max: int = Field(50, ge=1, description="Edit budget at the first step (words).")
    n_min: int = Field(10, ge=0, description="Edit budget at the last step (words).")
    decay: Literal["cosine", "linear", "fixed", "warmup"] = Field("cosine", description="Edit-budget schedule.")
    mode: Literal["generation", "editing"] = Field("generation", description="Write anew or edit in place.")
    reflection: bool = Field(False, description="Ask the optimiser LLM what went wrong before each update.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature of candidate generation.")
    max_tokens: int = Field(256, ge=16, description="Token limit of a candidate.")
    horizon: int | None = Field(None, ge=1, description="Iterations of the run (default: from the task).")


class GPOCore:
    """The GPO update shared by standalone GPO and EXPO-GPO: build the requests of one step and parse replies."""

    def __init__(self, params: GPOParams, embedder: Embedder | None) -> None:
        self.p = params
        self.embedder = embedder
        self.failures = 0

    def step_requests(self, component: Component, current: tuple[str, float | None],
                      trajectory: list[tuple[str, float]], step: int, total: int, recent: str, seed: int,
                      reflection: str | None = None) -> list[LLMRequest]:
        budget = edit_budget(step, total, self.p.n_max, self.p.n_min, self.p.decay)
        retrieved = retrieve(current[0], trajectory, self.p.k, self.p.trajectory, self.embedder)
        text = refine_prompt(component, current, retrieved, budget, recent, self.p.mode, reflection)
        return [LLMRequest((Message("user", text),), temperature=self.p.temperature, max_tokens=self.p.max_tokens,
                           seed=seed + i, role="optimizer") for i in range(self.p.n_candidates)]

    def reflect(self, component: Component, current: str, recent: str, seed: int
                ) -> ProposeGen:  # returns the reflection text
        (comps,) = yield [LLMRequest((Message("user", reflection_prompt(component, current, recent)),),
                                     temperature=0.0, max_tokens=96, seed=seed, role="optimizer")]
        return comps[0].text.strip()

    def parse(self, texts: list[str], exclude: set[str]) -> list[str]:
        out = []
        for t in texts:
            new = parse_marked(t)
            if new is None:
                self.failures += 1
            elif new not in exclude and new not in out:
                out.append(new)
        return out


class GPO(MetaPromptOptimizer):
    kind = "gpo"
    Params = GPOParams
    needs_embedder = True

    def __init__(self, base: MetaPrompt, params: GPOParams | None = None, *, pool: Any = None,
                 embedder: Embedder | None = None) -> None:
        super().__init__(base, params)
        self.core = GPOCore(self.params, embedder)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t = 0
        self.step = 0
        self.current = {"description": self.base.description, "instruction": self.base.instruction}
        self.trajectory: dict[str, list[tuple[str, float]]] = {"description": [], "instruction": []}
        self.queue: list[str] = []  # candidates waiting for their segment
        self.scored: list[tuple[str, float]] = []
        self.active: str | None = None  # the text in use
        self.seg_scores: list[float] = []
        self.component: Component = "instruction" if self.params.component != "description" else "description"
        self.base_scores: list[float] = []

    def _total_steps(self, ctx: ProposalContext) -> int:
        horizon = self.params.horizon or ctx.horizon or 100
        return max(1, (horizon - self.params.segment) // (self.params.n_candidates * self.params.segment))

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        seg = self.params.segment
        if self.t >= seg and self.t % seg == 0:
            self._close_segment()
            if not self.queue:
                if self.scored:
                    self._select()
                cur = self.current[self.component]
                cur_score = self._score_of(cur)
                seed = int(self.rng.integers(2**31 - 1))
                reflection = None
                if self.params.reflection:
                    reflection = yield from self.core.reflect(self.component, cur, ctx.recent, seed)
                reqs = self.core.step_requests(self.component, (cur, cur_score), self.trajectory[self.component],
                                               self.step, self._total_steps(ctx), ctx.recent, seed + 1, reflection)
                comps = yield reqs
                exclude = {p for p, _ in self.trajectory[self.component]} | {cur}
                self.queue = self.core.parse([c[0].text for c in comps], exclude)
                self.step += 1
            if self.queue:
                self.active = self.queue.pop(0)
        texts = dict(self.current)
        if self.active is not None:
            texts[self.component] = self.active
        ex = ctx.exemplar_candidates[ctx.heuristic] if ctx.exemplar_candidates else None
        return MetaPrompt(texts["description"], texts["instruction"], ex,
                          {"e": ctx.heuristic, "gpo_step": self.step})

    def _score_of(self, text: str) -> float | None:
        for p, s in self.trajectory[self.component]:
            if p == text:
                return s
        return float(np.mean(self.base_scores)) if self.base_scores else None

    def _close_segment(self) -> None:
        if not self.seg_scores:
            return
        mean = float(np.mean(self.seg_scores))
        if self.active is None:  # the base prompt's first segment
            self.base_scores = list(self.seg_scores)
            for comp in ("description", "instruction"):
                if not self.trajectory[comp]:
                    self.trajectory[comp].append((self.current[comp], mean))
        else:
            self.scored.append((self.active, mean))
        self.seg_scores = []

    def _select(self) -> None:
        """Keep the best candidate that is not already a step-best prompt."""
        done = {p for p, _ in self.trajectory[self.component]}
        fresh = [(s, p) for p, s in self.scored if p not in done]
        if fresh:
            s, p = max(fresh)
            self.current[self.component] = p
            self.trajectory[self.component].append((p, s))
        self.scored = []
        self.active = None
        if self.params.component == "both":
            self.component = "description" if self.component == "instruction" else "instruction"

    def update(self, score: float, info: dict[str, Any]) -> None:
        self.seg_scores.append(float(score))
        self.t += 1

    def record(self) -> dict[str, Any]:
        return {"gpo_step": self.step, "component": self.component, "failures": self.core.failures,
                "trajectory": len(self.trajectory[self.component])}

    def state_dict(self) -> dict[str, Any]:
        keys = ("t", "step", "current", "trajectory", "queue", "scored", "active", "seg_scores", "component",
                "base_scores")
        return {**{k: getattr(self, k) for k in keys}, "failures": self.core.failures,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            if k == "rng":
                self.rng.bit_generator.state = v
            elif k == "failures":
                self.core.failures = v
            elif k == "trajectory":
                self.trajectory = {c: [(p, float(s)) for p, s in lst] for c, lst in v.items()}
            elif k == "scored":
                self.scored = [(p, float(s)) for p, s in v]
            else:
                setattr(self, k, v)


class EXPOGPOParams(EXPOParams, GPOParams):
    every: int = Field(10, ge=1, description="Iterations between GPO steps that add candidates to the pool.")


class EXPOGPO(EXPO):
    """EXPO whose pool grows: every ``every`` iterations a GPO step refines the most probable arm's
    instruction (or description) and the parsed candidates join the pool as new arms."""

    kind = "expo_gpo"
    Params = EXPOGPOParams

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.core = GPOCore(self.params, self.embedder)
        self.step = 0

    def _observed(self, comp: Component) -> list[tuple[str, float]]:
        texts = self.pool.instructions if comp == "instruction" else self.pool.descriptions
        by: dict[int, list[float]] = {}
        for d, i, s in self.rows:
            by.setdefault(i if comp == "instruction" else d, []).append(s)
        return [(texts[j], float(np.mean(v))) for j, v in by.items()]

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        if self.t > 0 and self.t % self.params.every == 0:
            comp: Component = "description" if self.params.component == "description" else "instruction"
            d, i = self.arm(int(np.argmax(self.probs)))
            cur = self.pool.instructions[i] if comp == "instruction" else self.pool.descriptions[d]
            observed = self._observed(comp)
            score = next((s for p, s in observed if p == cur), None)
            horizon = self.params.horizon or ctx.horizon or 100
            reqs = self.core.step_requests(comp, (cur, score), observed, self.step,
                                           max(1, horizon // self.params.every), ctx.recent,
                                           int(self.rng.integers(2**31 - 1)))
            comps = yield reqs
            texts = self.pool.instructions if comp == "instruction" else self.pool.descriptions
            new = self.core.parse([c[0].text for c in comps], set(texts))
            if comp == "instruction":
                self.add_candidates(instructions=new)
            else:
                self.add_candidates(descriptions=new)
            self.step += 1
        return self.propose(ctx)

    def record(self) -> dict[str, Any]:
        return {**super().record(), "pool": [self.n_d, self.n_i], "failures": self.core.failures}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "gpo_step": self.step, "failures": self.core.failures}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.step = state["gpo_step"]
        self.core.failures = state["failures"]
