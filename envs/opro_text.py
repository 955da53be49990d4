"""The text side of OPRO-style optimisation tasks (linear regression, TSP, black-box functions, tabular HPO;
METHODS §4.2-4.5).

A :class:`OptimizationTask` adapts an unwrapped env for LLM optimiser agents: warm-start solutions, the
objective (lower is better), the task description D (optionally the "enhanced" sentence that spells out the
ordering), the meta-instruction I, exemplar rendering (given solutions worst first, best last, with values), the
output constraint, and a parser that never raises and validates (a tour must be a permutation of all nodes).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from expobench.agents.llm.types import Constraint

ENHANCED = " The pairs are listed from the largest value to the smallest; the last one is the best so far."


class OptimizationTask(ABC):
    """The text side of one optimisation task family (abstract: each family implements every method below)."""

    name = ""
    noun = "solution"
    #: A lower bound on :meth:`value` (MSE and tour lengths are >= 0; BO tasks carry their optimum).
    lower_bound = 0.0

    def __init__(self, env: Any) -> None:
        self.env = env

    @abstractmethod
    def warm_start(self, rng: np.random.Generator, n: int = 5) -> list[Any]:
        """The ``n`` initial solutions shown before the first proposal, drawn from ``rng``."""

    @abstractmethod
    def value(self, solution: Any) -> float:
        """The noise-free objective of ``solution`` (lower is better)."""

    @abstractmethod
    def description(self, enhanced: bool) -> str:
        """The task description D0 (``enhanced``: enhanced OPRO's ordering note)."""

    @abstractmethod
    def instruction(self) -> str:
        """The meta-instruction I0: what to answer and in which format."""

    @abstractmethod
    def render_one(self, solution: Any, value: float) -> str:
        """One exemplar line: a solution and its value, as the prompt shows it."""

    @abstractmethod
    def constraint(self) -> Constraint:
        """The output constraint of an answer (regex, grammar or JSON schema)."""

    @abstractmethod
    def parse(self, text: object) -> tuple[Any | None, str | None]:
        """``(solution, None)`` for a valid answer, ``(None, error)`` otherwise; never raises."""

    def prompt_score(self, value: float | None, b_s: float) -> float:
        """METHODS §4.2-4.4: ``(b_s − v) / (b_s − lower_bound)`` for the temperature-0 proposal's value ``v``,
        ``b_s`` the worst warm-start value, clipped to [0, 1]; 0 for an invalid proposal (``None``). With
        ``lower_bound`` 0 this is the papers' ``(b_s − v) / b_s``."""
        span = b_s - self.lower_bound
        if value is None or not span > 0:
            return 0.0
        return float(min(max((b_s - value) / span, 0.0), 1.0))

    def target_value(self, values: Sequence[float], alpha: float) -> float:
        """LLAMBO's target for a candidate sampler: ``best − α·(observed range)`` (lower is better)."""
        best, worst = min(values), max(values)
        return best - alpha * (worst - best)

    def render_exemplars(self, records: Sequence[tuple[Any, float]]) -> str:
        """``records`` in the order to show (worst first, best last)."""
        return "\n\n".join(self.render_one(s, v) for s, v in records)

    def to_action(self, solution: Any) -> Any:
        return solution


_NUM = r"-?[0-9]+(?:\.[0-9]+)?"


class LinRegTask(OptimizationTask):
    """Linear regression (``expobench.envs.linreg``) under the env's protocol (METHODS §4.2).

    ``expo``: D and I in the system message, exemplars ``w=.., b=..`` with values to 2 decimals. ``opro`` (OPRO's
    script): proposals snapped to integers (round half to even), values shown truncated to integers, exemplars
    as OPRO lays them out (``input:`` / ``value:`` lines), D saying the pairs are in descending order of value;
    the agent sends D, exemplars and I as one user message, all samples at temperature 1."""

    name = "linreg"
    noun = "pair"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.protocol = getattr(env, "protocol", "expo")
        self.n_exemplars = 20
        self.dedupe_step = self.protocol == "opro"  # OPRO evaluates the distinct snapped pairs of a step

    def warm_start(self, rng: np.random.Generator, n: int = 5) -> list[tuple[float, float]]:
        """The env's warm start (shared by every agent of a seed); beyond the env's ``n_warm_start``, topped up
        from ``rng`` with the same distribution."""
        return [(float(w), float(b)) for w, b in _env_warm_start(self.env, rng, n)]

    def value(self, solution: tuple[float, float]) -> float:
        return self.env.loss(*solution)

    def description(self, enhanced: bool) -> str:
        if self.protocol == "opro":
            text = ("You are helping to minimise a function of two input variables, w and b. Below are (w, b) "
                    "pairs with the function value at each, arranged in descending order of their values; lower "
                    "values are better.")
        else:
            text = ("You are minimising a function of two numbers, w and b. Below are (w, b) pairs that have been "
                    "tried, each with its function value; lower values are better.")
        return text + (ENHANCED if enhanced else "")

    def instruction(self) -> str:
        if self.protocol == "opro":
            return ("Give a new (w, b) pair that is different from all pairs above and has a function value lower "
                    "than any of them. Do not write code. The output must end with the pair as [w, b], where w "
                    "and b are numerical values.")
        return ("Propose a new pair (w, b) that differs from every pair above and should have a lower function "
                "value than all of them. Do not write code. End your answer with the pair as [w, b], where w and "
                "b are numbers.")

    def render_one(self, solution: tuple[float, float], value: float) -> str:
        w, b = solution
        if self.protocol == "opro":
            return f"input:\nw={_fmt(w)}, b={_fmt(b)}\nvalue:\n{int(value)}"
        return f"w={_fmt(w)}, b={_fmt(b)}\nvalue: {value:.2f}"

    def constraint(self) -> Constraint:
        num = r"-?[0-9]{1,4}(\.[0-9]{1,2})?"
        return Constraint(regex=rf"\[{num}, ?{num}\]")

    def parse(self, text: object) -> tuple[tuple[float, float] | None, str | None]:
        if not isinstance(text, str):
            return None, f"expected text, got {type(text).__name__}"
        found = re.findall(rf"\[\s*(?:w\s*=\s*)?({_NUM})\s*,\s*(?:b\s*=\s*)?({_NUM})\s*\]", text)
        if not found:
            return None, f"no [w, b] pair in {text[:60]!r}"
        w, b = (float(v) for v in found[-1])
        if self.protocol == "opro":  # OPRO rounds proposals to the integers its prompt shows
            w, b = float(np.round(w)), float(np.round(b))
        if not (np.isfinite(w) and np.isfinite(b)) or max(abs(w), abs(b)) > self.env.action_space.high[0]:
            return None, f"pair [{w}, {b}] outside the allowed range"
        return (w, b), None

    def to_action(self, solution: tuple[float, float]) -> list[float]:
        return [float(solution[0]), float(solution[1])]


class TSPTask(OptimizationTask):
    """Traveling salesman (``expobench.envs.tsp``) under the env's protocol (METHODS §4.3). The prompt lists
    ``env.coords`` exactly (expo: to the env's ``decimals``; opro: integers).

    ``expo``: tours may be written from any node (rotated to start at 0), lengths shown rounded, 20 exemplars.
    ``opro`` (OPRO's script): a tour must start at node 0 to be valid, lengths shown truncated to integers, 10
    exemplars laid out as ``<trace> .. </trace>`` / ``length:``, D saying they are in descending order of length;
    the agent re-samples until it has ``n_proposals`` valid tours (``resample``)."""

    name = "tsp"
    noun = "trace"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.protocol = getattr(env, "protocol", "expo")
        self.n_exemplars = 10 if self.protocol == "opro" else 20
        self.resample = self.protocol == "opro"

    def warm_start(self, rng: np.random.Generator, n: int = 5) -> list[list[int]]:
        """The env's warm start (shared by every agent of a seed); beyond the env's ``n_warm_start``, topped up
        from ``rng`` with the same distribution."""
        return [[int(v) for v in t] for t in _env_warm_start(self.env, rng, n)]

    def value(self, solution: list[int]) -> float:
        from expobench.envs.tsp import tour_length

        return tour_length(self.env.dist, solution)

    def points(self) -> str:
        """``(i): (x, y)`` for every point, exactly the env's coordinates."""
        d = getattr(self.env, "decimals", 0)
        return ", ".join(f"({i}): ({_coord(c[0], d)}, {_coord(c[1], d)})" for i, c in enumerate(self.env.coords))

    def description(self, enhanced: bool) -> str:
        if self.protocol == "opro":
            text = (f"You are given {self.env.n} points with coordinates, as (index): (x, y): {self.points()}. "
                    "Below are previous traces with their lengths, arranged in descending order of their lengths; "
                    "lower values are better.")
        else:
            text = (f"You are solving a traveling salesman problem with {self.env.n} points, given as (index): "
                    f"(x, y): {self.points()}. A trace visits every point exactly once and returns to its start; "
                    "its length is the sum of the Euclidean distances along it. Below are traces that have been "
                    "tried with their lengths; shorter is better.")
        return text + (ENHANCED.replace("pairs", "traces") if enhanced else "")

    def instruction(self) -> str:
        if self.protocol == "opro":
            return ("Give a new trace that is different from all traces above and has a length lower than any of "
                    "them. The trace must visit every point exactly once. Write the trace between <trace> and "
                    "</trace>.")
        return (f"Propose a new trace that starts at 0, visits all {self.env.n} points exactly once, differs from "
                "every trace above and should be shorter than all of them. Do not write code. Give the trace as "
                "<trace>0,3,1,...</trace>.")

    def render_one(self, solution: list[int], value: float) -> str:
        if self.protocol == "opro":
            return f"<trace> {','.join(map(str, solution))} </trace>\nlength:\n{int(value)}"
        return f"<trace>{','.join(map(str, solution))}</trace>\nlength: {value:.0f}"

    def constraint(self) -> Constraint:
        if self.protocol == "opro":
            return Constraint(regex=rf"<trace> ?0(, ?[0-9]{{1,2}}){{{self.env.n - 1}}} ?</trace>")
        return Constraint(regex=rf"<trace>0(,[0-9]{{1,2}}){{{self.env.n - 1}}}</trace>")

    def parse(self, text: object) -> tuple[list[int] | None, str | None]:
        if not isinstance(text, str):
            return None, f"expected text, got {type(text).__name__}"
        found = re.findall(r"<trace>([^<]*)</trace>", text)
        if not found:
            return None, f"no <trace>...</trace> in {text[:60]!r}"
        parts = [p.strip() for p in found[-1].split(",")]
        if not all(p.isdigit() and len(p) <= 3 for p in parts):
            return None, f"trace holds non-integers: {found[-1][:60]!r}"
        tour = [int(p) for p in parts]
        if sorted(tour) != list(range(self.env.n)):
            return None, f"trace is not a permutation of 0..{self.env.n - 1}"
        if self.protocol == "opro" and tour[0] != 0:
            return None, "trace does not start at 0"
        k = tour.index(0)
        return tour[k:] + tour[:k], None


class PointTask(OptimizationTask):
    """Black-box optimisation (``expobench.envs.blackbox``): a point is a tuple of floats in the env's box, written by the
    LLM as a JSON object ``{"x1": ..., ...}`` on the env's ``decimals`` grid. Out-of-box or malformed points are
    parse errors (counted failures), never clipped."""

    name = "blackbox"
    noun = "point"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.space = env.space
        self.lower_bound = float(env.optimal_value)

    def warm_start(self, rng: np.random.Generator, n: int = 5) -> list[tuple[float, ...]]:
        """The env's shared initial points (common to every agent of a seed), topped up at random."""
        pts = [tuple(float(v) for v in p) for p in self.env.warm_start[:n]]
        if len(pts) < n:
            pts += [tuple(float(v) for v in self.round(p)) for p in self.space.sample(rng, n - len(pts))]
        return pts

    def value(self, solution: tuple[float, ...]) -> float:
        return self.env.value(np.asarray(solution, dtype=np.float64))

    def round(self, x: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(x, dtype=np.float64), self.env.decimals)

    def _problem(self) -> str:
        return (f"an unknown function f of {self.space.dim} variables over the box\n{self.space.describe()}\n"
                "Below are points that have been evaluated, each with its value f; lower values are better.")

    def description(self, enhanced: bool) -> str:
        return f"You are minimising {self._problem()}" + (ENHANCED.replace("pairs", "points") if enhanced else "")

    def instruction(self) -> str:
        keys = ", ".join(f'"{n}": ...' for n in self.space.names)
        return (f"Propose a new {self.noun} that differs from every {self.noun} above and should have a lower value "
                f"than all of them. Do not write code. Answer with the {self.noun} as a JSON object {{{keys}}}, "
                "every value inside its range.")

    def to_dict(self, solution: tuple[float, ...]) -> dict[str, Any]:
        return self.space.to_dict(np.asarray(solution))

    def render_one(self, solution: tuple[float, ...], value: float) -> str:
        return f"{json.dumps(self.to_dict(solution))}\nvalue: {value:.6g}"

    def constraint(self) -> Constraint:
        return Constraint(json_schema=self.space.json_schema())

    def parse(self, text: object) -> tuple[tuple[float, ...] | None, str | None]:
        if not isinstance(text, str):
            return None, f"expected text, got {type(text).__name__}"
        found = re.findall(r"\{[^{}]*\}", text)
        if not found:
            return None, f"no JSON object in {text[:60]!r}"
        try:
            obj = json.loads(found[-1])
        except (json.JSONDecodeError, RecursionError) as e:
            return None, f"malformed JSON ({e.msg if hasattr(e, 'msg') else e}): {found[-1][:60]!r}"
        x, err = self.space.from_dict(obj)
        if err is not None:
            return None, err
        return tuple(float(v) for v in self.prepare(x)), None

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """A validated point on the task's grid (BO: ``decimals``; stays inside the box, bounds being on it)."""
        return np.clip(self.round(x), self.space.low, self.space.high)

    def to_action(self, solution: tuple[float, ...]) -> list[float]:
        return [float(v) for v in solution]


class HPOTask(PointTask):
    """Tabular HPO (``expobench.envs.hpo``): a configuration of named hyperparameters; its value is the env's CV loss,
    the negated reward (negative accuracy, or the loss itself: MSE, MAE, log loss; lower is better), so scores keep
    the same form as the other tasks."""

    name = "hpo"
    noun = "configuration"

    def __init__(self, env: Any) -> None:
        OptimizationTask.__init__(self, env)
        self.space = env.space
        self.lower_bound = -1.0 if env.metric == "acc" else 0.0  # negative accuracy >= -1; a loss >= 0

    def value(self, solution: tuple[float, ...]) -> float:
        return -self.env.evaluate(np.asarray(solution, dtype=np.float64))[0]

    def round(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def _problem(self) -> str:
        return (f"a hyperparameter configuration.\n{self.env.describe_task()}\nThe value of a configuration is "
                f"its cross-validated {self.env.loss_description}. Below are configurations that have been "
                "evaluated, each with its value; lower values are better.")

    def description(self, enhanced: bool) -> str:
        return (f"You are tuning {self._problem()}"
                + (ENHANCED.replace("pairs", "configurations") if enhanced else ""))

    def render_one(self, solution: tuple[float, ...], value: float) -> str:
        d = {k: (v if isinstance(v, int) else float(f"{v:.4g}")) for k, v in self.to_dict(solution).items()}
        return f"{json.dumps(d)}\nvalue: {value:.4f}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _coord(v: float, decimals: int) -> str:
    """A coordinate written with ``decimals`` places (the env's coordinates are rounded to them, so the text is
    exact)."""
    return f"{float(v) + 0.0:.{decimals}f}"


def _env_warm_start(env: Any, rng: np.random.Generator, n: int) -> list[Any]:
    """The first ``n`` of the env's warm start; beyond its ``n_warm_start``, more from ``env.sample_warm_start``."""
    sols = list(env.warm_start[:n])
    if n > env.n_warm_start:
        sols += env.sample_warm_start(rng, n - env.n_warm_start)
    return sols


def task_for(env: Any) -> OptimizationTask:
    from expobench.envs.blackbox import BlackBoxEnv
    from expobench.envs.linreg import LinearRegressionEnv
    from expobench.envs.tsp import TSPEnv

    if isinstance(env, LinearRegressionEnv):
        return LinRegTask(env)
    if isinstance(env, TSPEnv):
        return TSPTask(env)
    if isinstance(env, BlackBoxEnv):
        return PointTask(env)
    if hasattr(env, "evaluate") and hasattr(env, "describe_task"):  # envs.hpo.HPOEnv
        return HPOTask(env)
    raise TypeError(f"no OPRO text for {type(env).__name__}")
