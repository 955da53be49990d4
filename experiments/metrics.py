"""Metrics computed from the run store (METHODS §4.1, §7).

Shapes: a run's per-step arrays have length T (its committed steps). Curves aggregate runs of one agent as
mean ± standard error over runs (s.e. = sample std / sqrt(n), 0 for a single run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expobench.experiments.store import RunStore, StepRow


@dataclass
class RunData:
    run_id: str
    agent: str
    seed: int
    actions: list[Any]
    rewards: np.ndarray
    expected: np.ndarray
    optimal: np.ndarray
    optimal_actions: list[Any]
    records: list[dict[str, Any]]

    @classmethod
    def from_steps(cls, run_id: str, agent: str, seed: int, steps: list[StepRow]) -> RunData:
        def arr(xs: list[float | None]) -> np.ndarray:
            return np.array([np.nan if x is None else x for x in xs], dtype=float)

        return cls(
            run_id, agent, seed, [s.action for s in steps], arr([s.reward for s in steps]),
            arr([s.expected_reward for s in steps]), arr([s.optimal_expected_reward for s in steps]),
            [s.optimal_action for s in steps], [s.record for s in steps],
        )

    @property
    def discrete(self) -> bool:
        return all(isinstance(a, int) and not isinstance(a, bool) for a in self.actions)


def cumulative_regret(run: RunData) -> np.ndarray:
    """Cumulative expected regret Σ_{s<=t} (μ*_s − μ_{a_s}), shape [T]."""
    return np.cumsum(run.optimal - run.expected)


def best_so_far(run: RunData) -> np.ndarray:
    """Best noise-free reward found up to each step, shape [T]."""
    return np.maximum.accumulate(run.expected)


@dataclass(frozen=True)
class MetricSpec:
    """A headline metric: a per-run curve over iterations, and which way is better (all of them: lower)."""

    name: str
    label: str
    direction: str = "minimize"

    def curve(self, run: RunData) -> np.ndarray:
        if self.name == "cumulative_regret":
            return cumulative_regret(run)
        best = best_so_far(run)
        if self.name == "best_loss":  # rewards are -MSE
            return -best
        if self.name == "optimality_gap":  # rewards are -length; gap in percent
            return (run.optimal - best) / np.abs(run.optimal) * 100.0
        if self.name == "simple_regret":
            return run.optimal - best
        if self.name == "neg_best_score":
            return -best
        raise ValueError(self.name)


METRICS = {m.name: m for m in [
    MetricSpec("cumulative_regret", "cumulative expected regret"),
    MetricSpec("best_loss", "best MSE so far"),
    MetricSpec("optimality_gap", "optimality gap (%)"),
    MetricSpec("simple_regret", "simple regret"),
    MetricSpec("neg_best_score", "negative best CV score so far"),
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


def metric_for(env_id: str, store: RunStore | None = None) -> MetricSpec:
    """The headline metric of ``env_id``: what its env class declares; for a stored experiment, what was declared
    when it ran (kept in the store, so results stay readable without the env's code). Raises ValueError when
    neither names a known metric."""
    name = store.get_meta("metric") if store is not None else None
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


def greedy_frac(run: RunData, n_arms: int) -> float:
    """Fraction of rounds (after the first) whose choice is an empirical-best arm given the history before it.
    Arms never played have no empirical mean and are not empirical-best."""
    counts, sums = np.zeros(n_arms), np.zeros(n_arms)
    hits = rounds = 0
    for a, r in zip(run.actions, run.rewards):
        if counts.any():
            means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
            hits += bool(means[a] == means.max())
            rounds += 1
        counts[a] += 1
        sums[a] += r
    return hits / rounds if rounds else float("nan")


def mean_se(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    se = values.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se


@dataclass
class AgentSummary:
    """Final values at the common horizon ``horizon`` (the shortest committed run of the agent)."""

    agent: str
    runs: int
    horizon: int
    regret_mean: float
    regret_se: float
    metric: str = "cumulative_regret"
    metric_mean: float = float("nan")
    metric_se: float = float("nan")
    diagnostics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "runs": self.runs, "horizon": self.horizon, "regret_mean": self.regret_mean,
                "regret_se": self.regret_se, "metric": self.metric, "metric_mean": self.metric_mean,
                "metric_se": self.metric_se, **self.diagnostics}


def load_runs(store: RunStore, finished_only: bool = False) -> dict[str, list[RunData]]:
    """Runs by agent name (in config order of first appearance), each with its committed steps."""
    out: dict[str, list[RunData]] = {}
    for r in store.runs():
        if finished_only and r["status"] != "done":
            continue
        steps = store.steps(r["run_id"])
        if steps:
            out.setdefault(r["agent"], []).append(RunData.from_steps(r["run_id"], r["agent"], r["seed"], steps))
    return out


def _rate(runs: list[RunData], key: str) -> float:
    flags = [bool(rec.get(key)) for run in runs for rec in run.records if "llm" in rec]
    return float(np.mean(flags)) if flags else float("nan")


def summarize(store: RunStore) -> list[AgentSummary]:
    """One summary per agent: final cumulative regret (mean ± s.e. over runs) and diagnostics.

    Runs are truncated to the shortest committed length of that agent so that unfinished runs do not bias the
    mean. Bandit diagnostics (discrete actions): SuffFailFreq(T/2), K·MinFrac(T), GreedyFrac. LLM agents add
    invalid_rate (share of decisions whose first answer did not parse), fallback_rate (share played by the
    fallback action), and prompt tokens sent / evaluated by the backend per decision (their ratio shows prefix
    reuse). HPO tasks add Bayesmark's normalised score.
    """
    out = []
    stored = store.runs()
    if not stored:
        return []
    n_arms_by_run = {r["run_id"]: r["config"]["env"] for r in stored}
    env_id = next(iter(n_arms_by_run.values()), {}).get("id", "")
    spec = metric_for(env_id, store)
    data = load_runs(store)
    calls = store.call_stats()
    normalise = hpo_normaliser(data, {r["agent"]: r["kind"] for r in stored}) if spec.name == "neg_best_score" \
        else None
    for agent, runs in data.items():
        T = min(len(r.actions) for r in runs)
        finals = np.array([cumulative_regret(r)[T - 1] for r in runs])
        m, se = mean_se(finals)
        mm, mse = mean_se(np.array([spec.curve(r)[T - 1] for r in runs]))
        diag: dict[str, float] = {}
        if spec.name == "cumulative_regret" and all(r.discrete for r in runs):
            k = _n_arms(runs, n_arms_by_run, store.get_meta("n_actions"))
            diag["suff_fail_freq"] = float(np.mean([suffix_failure(_cut(r, T), T // 2) for r in runs]))
            diag["k_min_frac"] = float(np.mean([min_frac(_cut(r, T), k) for r in runs]))
            diag["greedy_frac"] = float(np.mean([greedy_frac(_cut(r, T), k) for r in runs]))
        if normalise is not None:
            diag["normalised_score"] = float(np.mean([normalise(best_so_far(r)[T - 1]) for r in runs]))
        if any("llm" in rec for r in runs for rec in r.records):
            diag["invalid_rate"] = _rate(runs, "invalid")
            diag["fallback_rate"] = _rate(runs, "fallback")
            stats = [calls.get(r.run_id, {}) for r in runs]
            decisions = sum(len(r.actions) for r in runs)
            if decisions:  # prompt tokens sent vs evaluated by the backend (prefix reuse), per decision
                diag["prompt_tok/dec"] = sum(c.get("prompt_tokens", 0) for c in stats) / decisions
                diag["eval_tok/dec"] = sum(c.get("prompt_tokens_evaluated", 0) for c in stats) / decisions
        out.append(AgentSummary(agent, len(runs), T, float(m), float(se), spec.name, float(mm), float(mse), diag))
    return out


def hpo_normaliser(data: dict[str, list[RunData]], kinds: dict[str, str]) -> Any:
    """Bayesmark's normalised score for one HPO task (METHODS §4.5): ``(opt − best) / (opt − random_median)``
    with ``opt`` the best score any run of the experiment found and ``random_median`` the median final best
    score of the ``random_search`` runs (0 = the best found, 1 = random search). ``None`` without random search
    runs or when they already reach ``opt``."""
    rnd = [r for a, rs in data.items() if kinds.get(a) == "random_search" for r in rs if len(r.expected)]
    if not rnd:
        return None
    opt = max(float(np.nanmax(r.expected)) for rs in data.values() for r in rs if len(r.expected))
    median = float(np.median([np.nanmax(r.expected) for r in rnd]))
    if not opt > median:
        return None
    return lambda best: (opt - float(best)) / (opt - median)


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
