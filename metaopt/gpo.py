"""GPO (Tang et al., AAAI 2025) as an online meta-prompt refiner (METHODS §5).

GPO treats prompt optimisation like gradient descent: the *trajectory* of step-best prompts is the momentum,
retrieved by relevance (cosine similarity of sentence embeddings); the *update* is a prompt written by an
optimiser LLM from the retrieved prompts with their scores, the current prompt and recent task interactions;
the *learning rate* is an edit budget ("change at most N words") that decays with a cosine schedule.

Online protocol (standalone, kind ``gpo``), ``scoring: offline`` (the default): every ``every`` iterations a GPO
step writes ``n_candidates`` candidates and scores each of them on the same inputs -- the agent's current state
and up to ``dev_states`` earlier ones (``dev_spacing`` iterations apart), answered off-line through
``ProposalContext.score`` without acting -- and the best candidate that is not already a step-best becomes the
current prompt, which *acts* for the iterations until the next step (ties at random, with the optimiser's rng).
With the default ``every: 5`` a 100-iteration run has 19 steps (at iterations 5, 10, ..., 95), about GPO's own
~18. ``scoring: segment`` is the earlier protocol, kept for comparison: each candidate acts for ``segment``
consecutive iterations and is scored by the mean prompt score of its segment, so a score mixes the prompt with the
run's progress (later segments see more history), and the step-best never acts on its own. ``EXPOGPO`` (kind
``expo_gpo``) instead feeds the candidates into EXPO's pool, which scores them as arms.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext, ProposeGen
from expobench.agents.llm.types import Completion, LLMRequest, Message
from expobench.metaopt.base import MetaPromptOptimizer, OptimizerParams
from expobench.metaopt.baselines import parse_marked
from expobench.metaopt.embeddings import Embedder
from expobench.metaopt.expo import EXPO, EXPOParams

Component = Literal["instruction", "description"]
Decay = Literal["cosine", "linear", "none", "fixed"]
WHAT = {"instruction": "instruction", "description": "task description"}
OTHER: dict[str, Component] = {"instruction": "description", "description": "instruction"}


def edit_budget(step: int, total: int, n_max: int = 50, n_min: int = 10, decay: Decay = "cosine",
                warmup: float = 0.0) -> int:
    """Words the optimiser may change at GPO step ``step`` (0-based) of ``total``.

    cosine: ``N_min + (N_max − N_min)·½(1 + cos(π s/S))``; linear: straight line from N_max to N_min; none (alias
    fixed): N_max throughout (the paper's ablation). ``warmup``: share of the steps over which the budget first
    rises linearly towards N_max (GPO's code rises from 0; the paper found warm-up hurts, hence default 0), the
    decay then running over the remaining steps.
    """
    if decay not in ("cosine", "linear", "none", "fixed"):
        raise ValueError(f"unknown edit-budget decay {decay!r}; allowed: cosine, linear, none (alias fixed)")
    total = max(total, 1)
    s = min(max(step, 0), total)
    w = min(round(warmup * total), total)
    if s < w:
        return max(1, round(n_max * (s + 1) / (w + 1)))
    if decay in ("none", "fixed"):
        return n_max
    frac = (s - w) / max(total - w, 1)
    if decay == "linear":
        return round(n_max - (n_max - n_min) * frac)
    return round(n_min + (n_max - n_min) * 0.5 * (1 + math.cos(math.pi * frac)))


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
                  budget: int, recent: str, mode: Literal["generation", "editing"], reflection: str | None,
                  other: str = "", score_definition: str = "") -> str:
    """The optimiser LLM's instructions for one GPO update: the other component held fixed, what the score
    means, the retrieved prompts with scores (most relevant last), the current prompt, recent interactions, the
    edit budget and the markers."""
    what, other_what = WHAT[component], WHAT[OTHER[component]]
    lines = [f"You improve the {what} that an AI agent reads before it makes each decision in a sequential task. "
             f"The agent reads the task description first, then the instruction."]
    if other:
        lines.append(f"The {other_what}, which stays as it is:\n<FIXED>{other}</FIXED>")
    lines.append("The score of a prompt is " + (score_definition or "the agent's prompt score; higher is better")
                 + ".")
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
    what = WHAT[component]
    return (f"An AI agent read this {what} before each decision:\n<PROMPT>{current}</PROMPT>\n\nIts recent "
            f"interactions:\n{recent}\n\nIn at most three sentences, say what went wrong and what the {what} "
            f"should make clearer.")


def run_all(gens: Sequence[Generator[list[LLMRequest], list[list[Completion]], Any]]
            ) -> Generator[list[LLMRequest], list[list[Completion]], list[Any]]:
    """Drive several request generators in lockstep: each round yields all their pending requests as one batch
    (so they batch with every other run's) and hands each generator its share of the answers."""
    results: list[Any] = [None] * len(gens)
    pending: dict[int, list[LLMRequest]] = {}

    def advance(i: int, value: Any) -> None:
        try:
            pending[i] = list(gens[i].send(value))
        except StopIteration as stop:
            results[i] = stop.value

    for i in range(len(gens)):
        advance(i, None)
    while pending:
        current, pending = pending, {}
        flat = [r for reqs in current.values() for r in reqs]
        answers = (yield flat) if flat else []
        pos = 0
        for i, reqs in current.items():
            advance(i, list(answers[pos:pos + len(reqs)]))
            pos += len(reqs)
    return results


class GPOUpdateParams(OptimizerParams):
    """The GPO update (trajectory, generation, edit budget), shared by ``gpo`` and ``expo_gpo``."""

    component: Literal["instruction", "description", "both"] = Field(
        "instruction", description="What GPO refines; 'both' alternates between them step by step."
    )
    n_candidates: int = Field(8, ge=1, description="Candidates written per GPO step (temperature 1).")
    k: int = Field(3, ge=1, description="Prompts shown per update: the current one plus k−1 retrieved.")
    trajectory: Literal["relevance", "recency", "importance", "none"] = Field(
        "relevance", description="How earlier step-best prompts are retrieved."
    )
    n_max: int = Field(50, ge=1, description="Edit budget at the first step (words).")
    n_min: int = Field(10, ge=0, description="Edit budget at the last step (words).")
    decay: Decay = Field("cosine", description="Edit-budget schedule: cosine, linear, or none (alias fixed: "
                                               "N_max throughout, the paper's ablation).")
    warmup: float = Field(0.0, ge=0, le=1, description="Share of the steps over which the budget first rises to "
                                                       "N_max (0: no warm-up, as the paper recommends).")
    mode: Literal["generation", "editing"] = Field("generation", description="Write anew or edit in place.")
    reflection: bool = Field(False, description="Ask the optimiser LLM what went wrong before each update.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature of candidate generation.")
    max_tokens: int = Field(512, ge=16, description="Token limit of a candidate (a reply cut off before <END> "
                                                    "keeps the text after <START>).")
    horizon: int | None = Field(None, ge=1, description="Iterations of the run (default: from the task).")


class GPOParams(GPOUpdateParams):
    scoring: Literal["offline", "segment"] = Field(
        "offline", description="offline: candidates are scored on the same frozen agent states without acting; "
        "segment: each candidate acts for `segment` iterations (confounds the prompt with the run's progress).")
    every: int = Field(5, ge=1, description="offline: iterations between GPO steps (5: 19 steps in 100 "
                                            "iterations).")
    dev_states: int = Field(2, ge=0, description="offline: earlier agent states scored besides the current one.")
    dev_spacing: int | None = Field(None, ge=1, description="offline: iterations between those states (default: "
                                                             "`every`).")
    segment: int = Field(5, ge=1, description="segment: iterations each candidate acts to score it.")

    @model_validator(mode="after")
    def _fields_of_the_scoring(self) -> GPOParams:
        # a field of the other scoring mode is refused when given a value of its own (a config that spells out
        # every default, as --print-config writes it, stays valid)
        fields = type(self).model_fields
        given = {k for k in self.model_fields_set if getattr(self, k) != fields[k].default}
        if self.scoring == "offline" and "segment" in given:
            raise ValueError("gpo: 'segment' applies to scoring: segment only (scoring is offline)")
        if self.scoring == "segment":
            wrong = sorted(given & {"every", "dev_states", "dev_spacing"})
            if wrong:
                raise ValueError(f"gpo: {', '.join(wrong)} apply to scoring: offline only (scoring is segment)")
        return self


class GPOCore:
    """The GPO update shared by standalone GPO and EXPO-GPO: build the requests of one step and parse replies."""

    def __init__(self, params: GPOUpdateParams, embedder: Embedder | None) -> None:
        self.p = params
        self.embedder = embedder
        self.failures = 0

    def budget(self, step: int, total: int) -> int:
        return edit_budget(step, total, self.p.n_max, self.p.n_min, self.p.decay, self.p.warmup)

    def step_requests(self, component: Component, current: tuple[str, float | None],
                      trajectory: list[tuple[str, float]], step: int, total: int, recent: str, seed: int,
                      reflection: str | None = None, other: str = "", score_definition: str = ""
                      ) -> list[LLMRequest]:
        retrieved = retrieve(current[0], trajectory, self.p.k, self.p.trajectory, self.embedder)
        text = refine_prompt(component, current, retrieved, self.budget(step, total), recent, self.p.mode,
                             reflection, other, score_definition)
        return [LLMRequest((Message("user", text),), temperature=self.p.temperature, max_tokens=self.p.max_tokens,
                           seed=seed + i, role="optimizer") for i in range(self.p.n_candidates)]

    def reflect(self, component: Component, current: str, recent: str, seed: int
                ) -> Generator[list[LLMRequest], list[list[Completion]], str]:
        (comps,) = yield [LLMRequest((Message("user", reflection_prompt(component, current, recent)),),
                                     temperature=0.0, max_tokens=128, seed=seed, role="optimizer")]
        return comps[0].text.strip()

    def parse(self, texts: list[str], exclude: set[str]) -> tuple[list[str], list[int], int]:
        """The new distinct candidates, the positions (request index) they came from, and how many replies
        failed to parse (no ``<START>``, or nothing after it); a missing ``<END>`` takes the rest."""
        out: list[str] = []
        positions: list[int] = []
        failed = 0
        for j, t in enumerate(texts):
            new = parse_marked(t, lenient=True)
            if new is None:
                failed += 1
            elif new not in exclude and new not in out:
                out.append(new)
                positions.append(j)
        self.failures += failed
        return out, positions, failed


def pick_best(scores: Sequence[float], rng: np.random.Generator) -> int:
    """Index of the highest score, ties broken uniformly at random (never by position)."""
    s = np.asarray(scores, dtype=np.float64)
    tied = np.flatnonzero(s >= s.max() - 1e-12)
    return int(tied[int(rng.integers(len(tied)))])


class GPO(MetaPromptOptimizer):
    """GPO refining the description and/or instruction online. scoring: offline (default): every ``every``
    iterations the candidates are scored on the same agent states (now and ``dev_states`` earlier ones) without
    acting, and the best new one acts until the next step. scoring: segment: each candidate acts for ``segment``
    iterations in turn -- its score then mixes the prompt with the run's progress (later segments see more
    history), so late candidates win even when prompts have no effect."""

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
        self.component: Component = "instruction" if self.params.component != "description" else "description"
        self.step_info: dict[str, Any] | None = None  # what the GPO step of this iteration did (for the record)
        # scoring: segment
        self.queue: list[str] = []  # candidates waiting for their segment
        self.queue_pos: list[int] = []
        self.scored: list[tuple[str, float]] = []
        self.active: str | None = None  # the text in use
        self.seg_scores: list[float] = []
        self.base_scores: list[float] = []

    # -- shared ------------------------------------------------------------------------------------------
    def _horizon(self, ctx: ProposalContext) -> int:
        return self.params.horizon or ctx.horizon or 100

    def _meta_prompt(self, texts: dict[str, str], ctx: ProposalContext) -> MetaPrompt:
        ex = ctx.exemplar_candidates[ctx.heuristic] if ctx.exemplar_candidates else None
        return MetaPrompt(texts["description"], texts["instruction"], ex, {"e": ctx.heuristic, "gpo_step": self.step})

    def _write(self, ctx: ProposalContext, cur_score: float | None, total: int
               ) -> Generator[list[LLMRequest], list[list[Completion]], tuple[list[str], list[int], int, int]]:
        """One GPO update: (optional reflection,) ``n_candidates`` replies, parsed. Returns the new candidates,
        their request positions, the number of replies that failed to parse, and the edit budget."""
        comp = self.component
        cur = self.current[comp]
        seed = int(self.rng.integers(2**31 - 1))
        reflection = None
        if self.params.reflection:
            reflection = yield from self.core.reflect(comp, cur, ctx.recent, seed)
        reqs = self.core.step_requests(comp, (cur, cur_score), self.trajectory[comp], self.step, total, ctx.recent,
                                       seed + 1, reflection, other=self.current[OTHER[comp]],
                                       score_definition=ctx.score_definition)
        comps = yield reqs
        exclude = {p for p, _ in self.trajectory[comp]} | {cur}
        cands, positions, failed = self.core.parse([c[0].text for c in comps], exclude)
        return cands, positions, failed, self.core.budget(self.step, total)

    def _next_component(self) -> None:
        if self.params.component == "both":
            self.component = OTHER[self.component]

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        if self.params.scoring == "segment":
            return (yield from self._propose_segment(ctx))
        if self.t > 0 and self.t % self.params.every == 0:
            yield from self._offline_step(ctx)
        return self._meta_prompt(self.current, ctx)

    # -- scoring: offline --------------------------------------------------------------------------------
    def total_steps(self, horizon: int) -> int:
        """GPO steps in a run of ``horizon`` iterations (offline: at every ``every``-th iteration after 0)."""
        if self.params.scoring == "segment":
            return max(1, (horizon - self.params.segment) // (self.params.n_candidates * self.params.segment))
        return max(1, (horizon - 1) // self.params.every)

    def lags(self, t: int) -> list[int]:
        """The dev set: the current state and up to ``dev_states`` earlier ones that lie inside the run."""
        spacing = self.params.dev_spacing or self.params.every
        return [0] + [j * spacing for j in range(1, self.params.dev_states + 1) if j * spacing < t]

    def _evaluate(self, texts: list[str], ctx: ProposalContext, lags: list[int]
                  ) -> Generator[list[LLMRequest], list[list[Completion]], list[float]]:
        """Mean prompt score of each text (in the current component, the other held fixed) over the dev set,
        all answered off-line in one batch per round."""
        comp = self.component
        gens = []
        for text in texts:
            mp = self._meta_prompt({**self.current, comp: text}, ctx)
            gens += [ctx.score(mp, lag) for lag in lags]
        scores = yield from run_all(gens)
        n = len(lags)
        return [float(np.mean(scores[j * n:(j + 1) * n])) for j in range(len(texts))]

    def _offline_step(self, ctx: ProposalContext) -> Generator[list[LLMRequest], list[list[Completion]], None]:
        if ctx.score is None:
            raise ValueError("gpo scoring: offline needs an agent that scores prompts off-line (ProposalContext."
                             "score, filled by the runner for agents with task_state_at); use scoring: segment")
        comp = self.component
        lags = self.lags(ctx.t)
        cur = self.current[comp]
        known = dict(self.trajectory[comp])
        if cur not in known:  # the starting text: scored on this step's dev set first, so it has a score shown
            (s,) = yield from self._evaluate([cur], ctx, lags)
            self.trajectory[comp].append((cur, s))
            known[cur] = s
        cands, positions, failed, budget = yield from self._write(ctx, known[cur], self.total_steps(self._horizon(ctx)))
        scores = (yield from self._evaluate(cands, ctx, lags)) if cands else []
        chosen = None
        if cands:
            j = pick_best(scores, self.rng)
            chosen = positions[j]
            self.current[comp] = cands[j]
            self.trajectory[comp].append((cands[j], scores[j]))
        self.step_info = {"step": self.step, "component": comp, "budget": budget, "lags": lags,
                          "candidates": len(cands), "failed": failed, "positions": positions,
                          "scores": [round(s, 6) for s in scores], "chosen": chosen,
                          "current_score": round(known[cur], 6)}
        self.step += 1
        self._next_component()

    # -- scoring: segment --------------------------------------------------------------------------------
    def _propose_segment(self, ctx: ProposalContext) -> ProposeGen:
        """The earlier protocol: the base prompt acts for ``segment`` iterations, then each candidate acts for
        ``segment`` iterations in turn and the best segment mean wins; the next step's candidates follow at once.
        Its scores are confounded with the run's progress (later segments see more history)."""
        seg = self.params.segment
        if self.t >= seg and self.t % seg == 0:
            self._close_segment()
            if not self.queue:
                if self.scored:
                    self._select()
                comp = self.component
                cur = self.current[comp]
                cands, positions, failed, budget = yield from self._write(ctx, self._score_of(cur),
                                                                          self.total_steps(self._horizon(ctx)))
                self.queue, self.queue_pos = cands, positions
                self.step_info = {"step": self.step, "component": comp, "budget": budget,
                                  "candidates": len(cands), "failed": failed, "positions": positions}
                self.step += 1
            if self.queue:
                self.active = self.queue.pop(0)
                self.queue_pos.pop(0)
        texts = dict(self.current)
        if self.active is not None:
            texts[self.component] = self.active
        return self._meta_prompt(texts, ctx)

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
        """Keep the best candidate that is not already a step-best prompt (ties at random)."""
        done = {p for p, _ in self.trajectory[self.component]}
        fresh = [(p, s) for p, s in self.scored if p not in done]
        if fresh:
            p, s = fresh[pick_best([s for _, s in fresh], self.rng)]
            self.current[self.component] = p
            self.trajectory[self.component].append((p, s))
        self.scored = []
        self.active = None
        self._next_component()

    # -- feedback, records, state ------------------------------------------------------------------------
    def update(self, score: float, info: dict[str, Any]) -> None:
        if self.params.scoring == "segment":
            self.seg_scores.append(float(score))
        self.step_info = None
        self.t += 1

    def record(self) -> dict[str, Any]:
        """Every iteration: the step count, the component refined next, the running total of replies that failed
        to parse, the trajectory's length; at an iteration where a GPO step ran, ``gpo``: that step's edit
        budget, dev-set lags, candidates, failed replies, scores, and the chosen candidate's request position."""
        out = {"gpo_step": self.step, "component": self.component, "failures": self.core.failures,
               "trajectory": len(self.trajectory[self.component])}
        if self.step_info is not None:
            out["gpo"] = self.step_info
        return out

    _KEYS = ("t", "step", "current", "trajectory", "component", "step_info", "queue", "queue_pos", "scored",
             "active", "seg_scores", "base_scores")

    def state_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self._KEYS}, "failures": self.core.failures,
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
            elif k in self._KEYS:
                setattr(self, k, v)
            else:
                raise ValueError(f"gpo: unknown state key {k!r}")


class EXPOGPOParams(EXPOParams, GPOUpdateParams):
    every: int = Field(10, ge=1, description="Iterations between GPO steps that add candidates to the pool.")

    @model_validator(mode="before")
    @classmethod
    def _no_scoring_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            wrong = sorted(set(data) & {"scoring", "segment", "dev_states", "dev_spacing"})
            if wrong:
                raise ValueError(f"expo_gpo does not take {', '.join(wrong)}: EXPO scores the candidates as arms of "
                                 "its pool (these are fields of gpo)")
        return data

    @model_validator(mode="after")
    def _component_in_pool(self) -> EXPOGPOParams:
        if self.component != self.optimize and self.optimize != "both":
            raise ValueError(f"expo_gpo: component {self.component!r} writes candidates that optimize "
                             f"{self.optimize!r} would never use; set optimize: both or component: {self.optimize}")
        return self


class EXPOGPO(EXPO):
    """EXPO whose pool grows: every ``every`` iterations a GPO step refines the most probable arm's
    instruction or description (``component: both`` alternates, starting with the instruction) and the parsed
    candidates join the pool as new arms, scored by EXPO like every other arm."""

    kind = "expo_gpo"
    Params = EXPOGPOParams

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.core = GPOCore(self.params, self.embedder)
        self.step = 0
        self.step_info: dict[str, Any] | None = None

    def component(self) -> Component:
        """The component the next step refines."""
        if self.params.component == "both":
            return "instruction" if self.step % 2 == 0 else "description"
        return self.params.component

    def _observed(self, comp: Component) -> list[tuple[str, float]]:
        texts = self.pool.instructions if comp == "instruction" else self.pool.descriptions
        by: dict[int, list[float]] = {}
        for d, i, s in self.rows:
            by.setdefault(i if comp == "instruction" else d, []).append(s)
        return [(texts[j], float(np.mean(v))) for j, v in by.items()]

    def propose_steps(self, ctx: ProposalContext) -> ProposeGen:
        if self.t > 0 and self.t % self.params.every == 0:
            comp = self.component()
            d, i = self.arm(int(np.argmax(self.probs)))
            cur, other = ((self.pool.instructions[i], self.pool.descriptions[d]) if comp == "instruction"
                          else (self.pool.descriptions[d], self.pool.instructions[i]))
            observed = self._observed(comp)
            score = next((s for p, s in observed if p == cur), None)
            horizon = self.params.horizon or ctx.horizon or 100
            total = max(1, (horizon - 1) // self.params.every)
            seed = int(self.rng.integers(2**31 - 1))
            reflection = None
            if self.params.reflection:
                reflection = yield from self.core.reflect(comp, cur, ctx.recent, seed)
            reqs = self.core.step_requests(comp, (cur, score), observed, self.step, total, ctx.recent, seed + 1,
                                           reflection, other=other, score_definition=ctx.score_definition)
            comps = yield reqs
            texts = self.pool.instructions if comp == "instruction" else self.pool.descriptions
            new, positions, failed = self.core.parse([c[0].text for c in comps], set(texts))
            if comp == "instruction":
                self.add_candidates(instructions=new)
            else:
                self.add_candidates(descriptions=new)
            self.step_info = {"step": self.step, "component": comp, "budget": self.core.budget(self.step, total),
                              "candidates": len(new), "failed": failed}
            self.step += 1
        return self.propose(ctx)

    def update(self, score: float, info: dict[str, Any]) -> None:
        super().update(score, info)
        self.step_info = None

    def record(self) -> dict[str, Any]:
        out = {**super().record(), "pool": [self.n_d, self.n_i], "failures": self.core.failures}
        if self.step_info is not None:
            out["gpo"] = self.step_info
        return out

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "gpo_step": self.step, "failures": self.core.failures,
                "step_info": self.step_info}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.step = state["gpo_step"]
        self.core.failures = state["failures"]
        self.step_info = state.get("step_info")
