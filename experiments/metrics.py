"""Metrics computed from the run store (METHODS §4.1, §7).

Shapes: a run's per-step arrays have length T (its committed steps). Curves aggregate runs of one agent as
mean ± standard error over runs (s.e. = sample std / sqrt(n), 0 for a single run).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expobench.agents.base import evaluation_count
from expobench.experiments.store import RunStore, StepRow


@dataclass
class RunData:
    """One run's committed steps. ``initial``: expected rewards of the agent's initial evaluations (its warm start,
    stored with step 0; empty when it had none). ``horizon``: the run's configured number of steps;
    ``terminated``: the env ended the run before the horizon (e.g. OPRO's protocol stops when the truth is found)."""

    run_id: str
    agent: str
    seed: int
    actions: list[Any]
    rewards: np.ndarray
    expected: np.ndarray
    optimal: np.ndarray
    optimal_actions: list[Any]
    records: list[dict[str, Any]]
    initial: np.ndarray = field(default_factory=lambda: np.zeros(0))
    horizon: int = 0
    terminated: bool = False

    @classmethod
    def from_steps(cls, run_id: str, agent: str, seed: int, steps: Iterable[StepRow], horizon: int = 0,
                   done: bool = False, budget: int | None = None) -> RunData:
        """``steps``: read once, one at a time (a store's :meth:`~RunStore.iter_steps`), so that only the columns
        are kept: about 50 bytes per step. ``done``: the run finished; with fewer steps than ``horizon`` and not
        by reaching its evaluation ``budget`` (the config's ``evaluations``), the env ended it (``terminated``)."""
        actions: list[Any] = []
        optimal_actions: list[Any] = []
        records: list[dict[str, Any]] = []
        floats = [array("d"), array("d"), array("d")]  # reward, expected, optimal (nan for None)
        for s in steps:
            actions.append(s.action)
            optimal_actions.append(s.optimal_action)
            records.append(s.record)
            for col, x in zip(floats, (s.reward, s.expected_reward, s.optimal_expected_reward)):
                col.append(np.nan if x is None else x)
        initial = np.array([p["expected_reward"] for p in records[0].get("initial", [])], dtype=float) \
            if records else np.zeros(0)
        rewards, expected, optimal = (np.asarray(col, dtype=float).copy() for col in floats)
        run = cls(run_id, agent, seed, actions, rewards, expected, optimal, optimal_actions, records, initial,
                  horizon)
        run.terminated = done and 0 < len(actions) < horizon and (budget is None or len(run.evaluations()) < budget)
        return run

    @property
    def discrete(self) -> bool:
        return all(isinstance(a, int) and not isinstance(a, bool) for a in self.actions)

    def evaluations(self) -> np.ndarray:
        """Expected rewards of every evaluation after the initial ones, in order: a step's ``record["evaluated"]``
        when the agent evaluated several solutions (an LLM optimiser's proposals), else its one action's."""
        parts = [np.asarray(rec["evaluated"], dtype=float) if "evaluated" in rec else self.expected[t:t + 1]
                 for t, rec in enumerate(self.records)]
        return np.concatenate(parts) if parts else np.zeros(0)


def cumulative_regret(run: RunData) -> np.ndarray:
    """Cumulative expected regret Σ_{s<=t} (μ*_s − μ_{a_s}), shape [T]."""
    return np.cumsum(run.optimal - run.expected)


def best_by_evaluation(run: RunData) -> np.ndarray:
    """Best noise-free reward after the initial evaluations and ``e`` more, for e = 0..E: shape [1 + E]. Entry 0
    is the best initial point (NaN for an agent without initial points); entry e counts the agent's first e
    evaluations after them, so agents that evaluate several proposals per step are compared at equal
    evaluations."""
    head = float(np.nanmax(run.initial)) if len(run.initial) else np.nan
    return np.fmax.accumulate(np.concatenate([[head], run.evaluations()]))


def found_step(run: RunData) -> int | None:
    """Index of the first step at which the env reported the truth found (``info["found"]``, OPRO's protocol)."""
    return next((t for t, rec in enumerate(run.records) if (rec.get("info") or {}).get("found")), None)


def distinct_proposed(run: RunData) -> int:
    """Distinct solutions an LLM optimiser proposed (``record["proposed"]``) up to the step that found the truth
    (OPRO's "number of unique pairs explored"); its played actions for records without the field."""
    end = found_step(run)
    stop = len(run.records) if end is None else end + 1
    return len({repr(sol) for rec, action in zip(run.records[:stop], run.actions[:stop])
                for sol in rec.get("proposed", [action])})


def steps_to_truth(run: RunData) -> np.ndarray:
    """Steps used so far until the env reported the truth found, shape [T]: ``min(t + 1, found step + 1)``; a run
    that never finds it is censored at its length."""
    t = np.arange(1, len(run.records) + 1, dtype=float)
    found = found_step(run)
    return t if found is None else np.minimum(t, found + 1)


@dataclass(frozen=True)
class MetricSpec:
    """A headline metric: a per-run curve and which way is better (all of them: lower).

    ``axis``: what the curve is indexed by. ``round``/``iteration``: entry t is after step t + 1. ``evaluation``:
    entry e is after the initial evaluations and e more (entry 0: the initial design alone), so every agent is
    compared at equal numbers of evaluations, whatever it evaluates per step (METHODS §4.2-4.5)."""

    name: str
    label: str
    direction: str = "minimize"
    axis: str = "iteration"

    def curve(self, run: RunData, length: int | None = None) -> np.ndarray:
        """The run's curve; with ``length``, cut to it, and a run the env ended early (``terminated``) held at its
        last value up to it (a finished search stays where it finished)."""
        c = self._curve(run)
        if length is not None:
            if run.terminated and 0 < len(c) < length:
                c = np.concatenate([c, np.full(length - len(c), c[-1])])
            c = c[:length]
        return c

    def _curve(self, run: RunData) -> np.ndarray:
        if self.name == "cumulative_regret":
            return cumulative_regret(run)
        if self.name == "steps_to_truth":
            return steps_to_truth(run)
        best = best_by_evaluation(run)
        optimal = run.optimal[0] if len(run.optimal) else np.nan
        if self.name in ("best_loss", "neg_best_score"):  # rewards are -MSE / CV scores (losses negated)
            return -best
        if self.name == "optimality_gap":  # rewards are -length; gap in percent
            return (optimal - best) / np.abs(optimal) * 100.0
        if self.name == "simple_regret":
            return optimal - best
        raise ValueError(self.name)

    def length(self, run: RunData) -> int:
        """The length of the run's curve, without computing it."""
        if self.axis == "evaluation":
            return 1 + sum(evaluation_count(rec) for rec in run.records)
        return len(run.records)

    def common_length(self, runs: Iterable[RunData]) -> int:
        """The length every run's curve reaches: the budget at which agents are compared (on the evaluation axis,
        1 + the fewest evaluations any run made). A run the env ended early reaches any length; when every run
        did, the longest curve."""
        runs = list(runs)
        open_ = [self.length(r) for r in runs if not r.terminated]
        if open_:
            return min(open_)
        return max((self.length(r) for r in runs), default=0)

    @property
    def axis_label(self) -> str:
        return {"evaluation": "evaluations after the initial design", "round": "round"}.get(self.axis, "iteration")

    def x(self, length: int) -> np.ndarray:
        """The x values of a curve of ``length`` entries: 0.. on the evaluation axis, 1.. otherwise."""
        return np.arange(length) if self.axis == "evaluation" else np.arange(1, length + 1)


METRICS = {m.name: m for m in [
    MetricSpec("cumulative_regret", "cumulative expected regret", axis="round"),
    MetricSpec("best_loss", "best MSE so far", axis="evaluation"),
    MetricSpec("optimality_gap", "optimality gap (%)", axis="evaluation"),
    MetricSpec("simple_regret", "simple regret", axis="evaluation"),
    MetricSpec("neg_best_score", "negative best CV score so far", axis="evaluation"),
    MetricSpec("steps_to_truth", "steps until the truth is proposed", axis="iteration"),
]}
METRIC_KEY = "expobench.metric"  # the env class's metadata entry that declares its headline metric


def declared_metric(env_id: str) -> str | None:
    """The metric name an env id's class declares in ``metadata["expobench.metric"]`` (None when it declares
    none). Raises ``gymnasium.error.Error`` for an unregistered id."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    spec = gym.spec(env_id)
    creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
    metadata = getattr(creator, "metadata", None) or {}
    return metadata.get(METRIC_KEY)


def metric_for(env_id: str, store: RunStore | None = None, env: Any = None) -> MetricSpec:
    """The headline metric of ``env_id``: for a stored experiment, what was declared when it ran (kept in the
    store, so results stay readable without the env's code); else what the ``env`` instance declares (an env may
    declare a metric per configuration, e.g. OPRO's protocol), else what its class declares. Raises ValueError
    when none names a known metric."""
    name = None
    if store is not None:
        envs = sorted({r["env_id"] for r in store.runs()})
        if len(envs) > 1:
            raise ValueError(f"{store.out} holds runs of several environments ({', '.join(envs)}): one output "
                             "directory holds one experiment; its results cannot be summarised together")
        name = store.get_meta("metric")
    if name is None and env is not None:
        name = (getattr(env, "unwrapped", env).metadata or {}).get(METRIC_KEY)
    if name is None:
        name = declared_metric(env_id)
    if name not in METRICS:
        raise ValueError(f"env {env_id!r} declares no known headline metric (its class's metadata["
                         f"{METRIC_KEY!r}] is {name!r}); allowed: {', '.join(METRICS)}")
    return METRICS[name]


def suffix_failure(run: RunData, t0: int) -> bool:
    """True when the round's best arm is never chosen in rounds [t0, T) (SuffFailFreq's per-run event)."""
    return not any(a == b for a, b in zip(run.actions[t0:], run.optimal_actions[t0:]))


def min_frac(run: RunData, n_arms: int) -> float:
    """K · MinFrac(T): K times the smallest fraction of rounds any arm was played (1 = perfectly uniform)."""
    counts = np.bincount(np.asarray(run.actions, dtype=int), minlength=n_arms)
    return float(n_arms * counts.min() / max(len(run.actions), 1))


def greedy_frac(run: RunData, n_arms: int, block: int = 4096) -> float:
    """Fraction of rounds (after the first) whose choice is an empirical-best arm given the history before it.
    Arms never played have no empirical mean and are not empirical-best. Computed a ``block`` of rounds at a time
    (running sums carried over), so memory does not grow with the run."""
    actions = np.asarray(run.actions, dtype=int)
    counts, sums = np.zeros(n_arms), np.zeros(n_arms)
    hits = rounds = 0
    for lo in range(0, len(actions), block):
        a, r = actions[lo:lo + block], run.rewards[lo:lo + block]
        onehot = np.zeros((len(a), n_arms))
        onehot[np.arange(len(a)), a] = 1.0
        # history before each round: the carried totals plus this block's earlier rounds (sequential sums, as a
        # loop would add them)
        c = np.cumsum(np.vstack([counts, onehot]), axis=0)[:-1]
        sm = np.cumsum(np.vstack([sums, onehot * r[:, None]]), axis=0)[:-1]
        seen = c.any(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(c > 0, sm / np.maximum(c, 1), -np.inf)
        hit = means[np.arange(len(a)), a] == means.max(axis=1)
        hits += int(np.count_nonzero(hit & seen))
        rounds += int(np.count_nonzero(seen))
        counts, sums = c[-1] + onehot[-1], sm[-1] + onehot[-1] * r[-1]
    return hits / rounds if rounds else float("nan")


def best_arm_position(run: RunData) -> int | None:
    """The best arm's position in a stationary bandit run (every step's optimal action, when they agree)."""
    arms = {a for a in run.optimal_actions if isinstance(a, int) and not isinstance(a, bool)}
    return arms.pop() if len(arms) == 1 and len(run.optimal_actions) else None


def position_warning(data: dict[str, list[RunData]]) -> str | None:
    """A warning when every stationary bandit run of the experiment has its best arm at one position: an agent
    that favours that position (many LLMs favour the first button) then scores well without learning."""
    positions = {best_arm_position(r) for rs in data.values() for r in rs}
    if len(positions) != 1 or None in positions:
        return None
    (pos,) = positions
    seeds = len({r.seed for rs in data.values() for r in rs})
    return (f"every seed ({seeds}) has the best arm at position {pos}: an agent that favours that position scores "
            "well without learning; leave the env's best_arm unset to draw the position per seed")


def budget_warning(spec: MetricSpec, data: dict[str, list[RunData]]) -> str | None:
    """A warning when agents are read at fewer evaluations than some of them made: on the evaluation axis the
    comparison is at the fewest evaluations any run reached, so without an ``evaluations`` budget an agent that
    evaluates several solutions per step is cut to a one-per-step baseline's count."""
    if spec.axis != "evaluation":
        return None
    common = spec.common_length(r for rs in data.values() for r in rs)
    made = {agent: min(spec.length(r) for r in rs) for agent, rs in data.items()
            if rs and not any(r.terminated for r in rs)}
    if not made or max(made.values()) <= common:
        return None
    fewest, most = min(made, key=made.__getitem__), max(made, key=made.__getitem__)
    return (f"agents are compared at {common - 1} evaluations after the initial design, the fewest any run made "
            f"({fewest}); {most}'s runs made at least {made[most] - 1}, and what they found later is not counted: "
            "set the config's `evaluations` to give every agent the same budget")


def experiment_warnings(spec: MetricSpec, data: dict[str, list[RunData]]) -> list[str]:
    """Every warning about how an experiment's agents are compared (best-arm position, evaluation budgets)."""
    return [w for w in (position_warning(data), budget_warning(spec, data)) if w]


def regret_by_position(data: dict[str, list[RunData]]) -> dict[str, dict[int, tuple[float, int]]]:
    """Final cumulative regret per agent and best-arm position: ``{agent: {position: (mean, runs)}}``; empty
    unless the stationary bandit runs put the best arm at more than one position."""
    positions = {best_arm_position(r) for rs in data.values() for r in rs}
    if None in positions or len(positions) < 2:
        return {}
    out: dict[str, dict[int, tuple[float, int]]] = {}
    for agent, rs in data.items():
        T = min(len(r.actions) for r in rs)
        by: dict[int, list[float]] = {}
        for r in rs:
            by.setdefault(best_arm_position(r), []).append(float(cumulative_regret(r)[T - 1]))
        out[agent] = {p: (float(np.mean(v)), len(v)) for p, v in sorted(by.items())}
    return out


@dataclass
class FinalArms:
    """Where an agent's bandit runs ended: ``counts[k]``, the runs whose most played arm in their last ``last``
    rounds was arm k (ties: the one of them played last, so no position is favoured); ``on_best``, the runs
    where that arm was a best arm of their last round; ``runs``."""

    counts: list[int]
    on_best: int
    runs: int
    last: int


def final_arms(data: dict[str, list[RunData]], n_arms: int | None, last: int = 5) -> dict[str, FinalArms]:
    """Per agent of a bandit experiment (discrete actions, not an MDP), the arm each run settled on
    (:class:`FinalArms`): with the best arm drawn per seed it tells a favoured position from the best arm.
    Empty for other tasks."""
    if n_arms is None or not data or is_mdp(data) \
            or not all(r.discrete and r.actions for rs in data.values() for r in rs):
        return {}
    out = {}
    for agent, runs in data.items():
        counts, on_best = [0] * n_arms, 0
        for r in runs:
            tail = r.actions[-last:]
            played = np.bincount(tail, minlength=n_arms)
            top = {a for a in range(n_arms) if played[a] == played.max()}
            arm = next(a for a in reversed(tail) if a in top)
            counts[arm] += 1
            on_best += arm == r.optimal_actions[-1]
        out[agent] = FinalArms(counts, on_best, len(runs), last)
    return out


def mean_se(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    se = values.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se


@dataclass
class AgentSummary:
    """Final values at the common budget ``horizon``, counted along the metric's axis: rounds/iterations (the
    shortest committed run of the agent) or, for optimisation tasks, evaluations after the initial design (the
    fewest any run of any agent made, so agents are compared at equal evaluations)."""

    agent: str
    runs: int
    horizon: int
    regret_mean: float
    regret_se: float
    metric: str = "cumulative_regret"
    metric_mean: float = float("nan")
    metric_se: float = float("nan")
    diagnostics: dict[str, float] = field(default_factory=dict)
    axis: str = "round"

    def to_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "runs": self.runs, "horizon": self.horizon, "axis": self.axis,
                "regret_mean": self.regret_mean, "regret_se": self.regret_se, "metric": self.metric,
                "metric_mean": self.metric_mean, "metric_se": self.metric_se, **self.diagnostics}


def load_runs(store: RunStore, finished_only: bool = False) -> dict[str, list[RunData]]:
    """Runs by agent name (in config order of first appearance), each with its committed steps."""
    out: dict[str, list[RunData]] = {}
    for r in store.runs():
        if finished_only and r["status"] != "done":
            continue
        run = RunData.from_steps(r["run_id"], r["agent"], r["seed"], store.iter_steps(r["run_id"]),
                                 int(r["horizon"]), r["status"] == "done", r["config"].get("evaluations"))
        if run.actions:
            out.setdefault(r["agent"], []).append(run)
    return out


def _rate(runs: list[RunData], key: str) -> float:
    flags = [bool(rec.get(key)) for run in runs for rec in run.records if "llm" in rec]
    return float(np.mean(flags)) if flags else float("nan")


def compared_length(spec: MetricSpec, data: dict[str, list[RunData]], agent: str) -> int:
    """Curve length at which ``agent``'s final value is read: on the evaluation axis the common budget of all
    agents (equal evaluations); otherwise the agent's own shortest committed run."""
    if spec.axis == "evaluation":
        return spec.common_length(r for rs in data.values() for r in rs)
    return spec.common_length(data[agent])


def summarize(store: RunStore, data: dict[str, list[RunData]] | None = None) -> list[AgentSummary]:
    """One summary per agent: the headline metric's final value and cumulative regret (mean ± s.e. over runs),
    and diagnostics.

    Final values are read at a common budget (:func:`compared_length`) so that unfinished runs do not bias the
    mean and agents that evaluate several solutions per step are compared at equal evaluations. Bandit
    diagnostics (discrete actions): SuffFailFreq(T/2), K·MinFrac(T), GreedyFrac. LLM agents add invalid_rate
    (share of decisions whose first answer did not parse), fallback_rate (share played by the fallback action),
    and prompt tokens sent / evaluated by the backend per decision (their ratio shows prefix reuse). HPO tasks
    with random-search runs add Bayesmark's NORMED_MED and NORMED_MEAN at the compared budget
    (:mod:`expobench.experiments.normalised`); a task whose runs ended early adds the share of runs that did.
    ``data``: the store's runs when the caller has loaded them (:func:`load_runs`).
    """
    from expobench.experiments.normalised import Normaliser

    out = []
    stored = store.runs()
    if not stored:
        return []
    n_arms_by_run = {r["run_id"]: r["config"]["env"] for r in stored}
    env_id = next(iter(n_arms_by_run.values()), {}).get("id", "")
    spec = metric_for(env_id, store)
    data = load_runs(store) if data is None else data
    calls = store.call_stats()
    normaliser = Normaliser.from_runs(data, {r["agent"]: r["kind"] for r in stored}) \
        if spec.name == "neg_best_score" else None
    ended_early = any(r.terminated for rs in data.values() for r in rs)
    common = spec.common_length(r for rs in data.values() for r in rs) if spec.axis == "evaluation" else None
    for agent, runs in data.items():
        T = min(len(r.actions) for r in runs)
        finals = np.array([cumulative_regret(r)[T - 1] for r in runs])
        m, se = mean_se(finals)
        L = common if common is not None else spec.common_length(runs)
        mm, mse = mean_se(np.array([spec.curve(r, L)[L - 1] for r in runs]))
        diag: dict[str, float] = {}
        if spec.name == "cumulative_regret" and is_mdp({agent: runs}):
            diag.update(episode_table({agent: runs})[agent])
        elif spec.name == "cumulative_regret" and all(r.discrete for r in runs):
            k = _n_arms(runs, n_arms_by_run, store.get_meta("n_actions"))
            diag["suff_fail_freq"] = float(np.mean([suffix_failure(_cut(r, T), T // 2) for r in runs]))
            diag["k_min_frac"] = float(np.mean([min_frac(_cut(r, T), k) for r in runs]))
            diag["greedy_frac"] = float(np.mean([greedy_frac(_cut(r, T), k) for r in runs]))
        if normaliser is not None:
            diag["normed_med"] = float(normaliser.normed_med(runs, L)[L - 1])
            diag["normed_mean"] = float(normaliser.normed_mean(runs, L)[L - 1])
        if ended_early:
            diag["ended_early"] = float(np.mean([r.terminated for r in runs]))
        if spec.name == "steps_to_truth":
            diag["found_rate"] = float(np.mean([found_step(r) is not None for r in runs]))
            diag["distinct_tried"] = float(np.mean([distinct_proposed(r) for r in runs]))
        if any("llm" in rec for r in runs for rec in r.records):
            diag["invalid_rate"] = _rate(runs, "invalid")
            diag["fallback_rate"] = _rate(runs, "fallback")
            stats = [calls.get(r.run_id, {}) for r in runs]
            decisions = sum(len(r.actions) for r in runs)
            if decisions:  # prompt tokens sent vs evaluated by the backend (prefix reuse), per decision
                diag["prompt_tok/dec"] = sum(c.get("prompt_tokens", 0) for c in stats) / decisions
                diag["eval_tok/dec"] = sum(c.get("prompt_tokens_evaluated", 0) for c in stats) / decisions
        budget = L - 1 if spec.axis == "evaluation" else L
        out.append(AgentSummary(agent, len(runs), budget, float(m), float(se), spec.name, float(mm), float(mse),
                                diag, spec.axis))
    return out


# -- episodic tasks (tabular MDPs): episodes are read from each step's stored info ----------------------------
def episode_ends(run: RunData) -> list[dict[str, Any]]:
    """The ``info`` of the steps that ended an episode, in order."""
    return [rec["info"] for rec in run.records if (rec.get("info") or {}).get("episode_end")]


def episodes(run: RunData) -> tuple[np.ndarray, np.ndarray]:
    """The run's finished episodes, in order: (returns [E], goal reached [E] as 0/1)."""
    ends = episode_ends(run)
    return (np.array([e["episode_return"] for e in ends], dtype=float),
            np.array([float(bool(e["episode_goal"])) for e in ends]))


def is_mdp(data: dict[str, list[RunData]]) -> bool:
    """Whether the runs are of an episodic MDP task (their steps carry ``info["episode_end"]``)."""
    return any("episode_end" in (rec.get("info") or {}) for runs in data.values() for r in runs for rec in r.records)


def episode_table(data: dict[str, list[RunData]]) -> dict[str, dict[str, float]]:
    """Per agent: episodes finished per run, mean return and goal share over all finished episodes (pooled over
    runs), and the mean normalised episode score (``info["episode_score"]``)."""
    out = {}
    for agent, runs in data.items():
        ends = [e for r in runs for e in episode_ends(r)]
        out[agent] = {
            "episodes_per_run": len(ends) / len(runs),
            "mean_return": float(np.mean([e["episode_return"] for e in ends])) if ends else float("nan"),
            "goal_share": float(np.mean([bool(e["episode_goal"]) for e in ends])) if ends else float("nan"),
            "mean_score": float(np.mean([e["episode_score"] for e in ends])) if ends else float("nan"),
        }
    return out


def _cut(run: RunData, T: int) -> RunData:
    return RunData(run.run_id, run.agent, run.seed, run.actions[:T], run.rewards[:T], run.expected[:T],
                   run.optimal[:T], run.optimal_actions[:T], run.records[:T])


def _n_arms(runs: list[RunData], envs: dict[str, Any], stored: int | None = None) -> int:
    """The number of arms: as stored when the experiment ran, else from the env (older stores)."""
    if stored is not None:
        return int(stored)
    import gymnasium as gym

    import expobench.envs as _  # noqa: F401

    env_cfg = envs[runs[0].run_id]
    env = gym.make(env_cfg["id"], **env_cfg.get("kwargs", {}))
    return int(env.action_space.n)
