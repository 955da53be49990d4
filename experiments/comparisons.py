"""Fixed vs optimised meta-prompts within one experiment: paired differences over seeds with an interval that is
honest at the number of seeds, and the best (D, I) candidates each optimiser found. Used by ``summary``,
``report`` and ``export-prompt``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from expobench.experiments.metrics import RunData, compared_length, load_runs, metric_for
from expobench.experiments.store import RunStore


def paired_bootstrap(diffs: np.ndarray, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
                     ) -> tuple[float, float, float]:
    """Mean of per-seed differences and its percentile bootstrap CI (resampling seeds with replacement)."""
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(len(diffs), size=(n_boot, len(diffs)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(diffs.mean()), float(lo), float(hi)


#: Below this many paired seeds a comparison is flagged and uses the paired t-interval: a percentile bootstrap over
#: 2-4 seeds has at most a handful of distinct resamples and collapses towards a point.
SMALL_N = 5


def paired_interval(diffs: np.ndarray, level: float = 0.95) -> tuple[float, float, float, str]:
    """Mean of per-seed differences, its ``level`` interval and the method that gave it: the percentile bootstrap
    from :data:`SMALL_N` seeds on, the paired t-interval below, none for a single seed."""
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2:
        mean = float(diffs.mean()) if len(diffs) else float("nan")
        return mean, float("nan"), float("nan"), "none"
    if len(diffs) < SMALL_N:
        from scipy import stats

        mean, se = float(diffs.mean()), float(diffs.std(ddof=1) / np.sqrt(len(diffs)))
        q = float(stats.t.ppf(1 - (1 - level) / 2, len(diffs) - 1))
        return mean, mean - q * se, mean + q * se, "paired t"
    return (*paired_bootstrap(diffs, level=level), "bootstrap")


#: The power analysis of every comparison: a two-sided paired t-test at level ALPHA with power POWER.
ALPHA, POWER = 0.05, 0.8


def paired_t_power(effect: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` over ``n`` pairs for a true mean difference of
    ``effect`` paired standard deviations (the noncentral t distribution, df = n − 1, noncentrality effect·√n)."""
    from scipy import stats

    if n < 2:
        return float("nan")
    df, nc = n - 1, abs(effect) * np.sqrt(n)
    crit = stats.t.ppf(1 - alpha / 2, df)
    lower = stats.nct.cdf(-crit, df, nc)  # the wrong-sign tail: negligible, and nan where scipy underflows
    return float(stats.nct.sf(crit, df, nc) + np.nan_to_num(lower, nan=0.0))


def detectable_difference(sd: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest true mean difference that ``n`` paired seeds with paired standard deviation ``sd`` detect with
    probability ``power`` (two-sided paired t-test at ``alpha``); nan below 2 seeds or when ``sd`` is 0 or unknown."""
    from scipy.optimize import brentq

    if n < 2 or not np.isfinite(sd) or sd <= 0:
        return float("nan")
    hi = 1.0
    while paired_t_power(hi, n, alpha) < power:
        hi *= 2
    return float(sd * brentq(lambda e: paired_t_power(e, n, alpha) - power, 0.0, hi, xtol=1e-6))


def seeds_needed(sd: float, difference: float, power: float = POWER, alpha: float = ALPHA, most: int = 100_000
                 ) -> int | None:
    """The fewest paired seeds that detect a true mean difference ``difference`` with probability ``power``, given
    the paired standard deviation ``sd`` (two-sided paired t-test at ``alpha``); None when ``sd`` is unknown or 0
    or more than ``most`` would be needed."""
    if not np.isfinite(sd) or sd <= 0 or difference == 0:  # no spread observed: nothing to size a test from
        return None
    effect = abs(difference) / sd
    lo, hi = 2, 2
    while paired_t_power(effect, hi, alpha) < power:
        if hi >= most:
            return None
        lo, hi = hi, min(hi * 2, most)
    while lo < hi:  # power grows with n: the first n that reaches it
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if paired_t_power(effect, mid, alpha) < power else (lo, mid)
    return lo


@dataclass
class Comparison:
    """``diff`` = mean over common seeds of (optimised − fixed) final metric (any agent ``a`` − ``b`` for a requested
    comparison); ``[lo, hi]`` its 95% interval by
    ``method`` (``bootstrap``, ``paired t`` below :data:`SMALL_N` seeds, ``none`` for one seed); ``identical``
    when the difference is exactly 0 in every seed. ``sd``: the paired differences' standard deviation;
    ``detectable``: the smallest true difference these seeds detect with 80% power (:func:`detectable_difference`)."""

    optimised: str
    fixed: str
    seeds: int
    diff: float
    lo: float
    hi: float
    method: str = "bootstrap"
    identical: bool = False
    sd: float = float("nan")

    @property
    def detectable(self) -> float:
        return detectable_difference(self.sd, self.seeds)

    def seeds_for(self, difference: float) -> int | None:
        """Paired seeds needed to detect ``difference`` with 80% power at this comparison's spread."""
        return seeds_needed(self.sd, difference)

    def power_text(self) -> str:
        """What the seeds could detect, and how many seeds the observed difference would need."""
        if self.identical or not np.isfinite(self.detectable):
            return "no spread to size a test from" if self.seeds >= 2 else "one seed: no power figure"
        text = f"detectable with 80% power at α = 0.05: |Δ| ≥ {self.detectable:.3f} (paired s.d. {self.sd:.3f})"
        need = self.seeds_for(self.diff) if self.diff else None
        if need is not None and need > self.seeds:
            text += f"; the observed {self.diff:+.3f} would need {need} paired seeds"
        return text

    @property
    def small(self) -> bool:
        return self.seeds < SMALL_N

    def interval_text(self) -> str:
        """The interval as a reader should take it: identical results said so, small samples flagged."""
        if self.identical:
            return f"identical in all {self.seeds} paired seeds (difference 0 in every seed)"
        if self.method == "none":
            return f"{self.seeds} paired seed(s): no interval"
        text = f"95% {self.method} interval [{self.lo:+.3f}, {self.hi:+.3f}], n = {self.seeds}"
        return text + (f" (fewer than {SMALL_N} paired seeds: indicative only)" if self.small else "")


def is_llm(cfg: dict[str, Any]) -> bool:
    """Whether a stored run config belongs to an LLM agent (the runner stores the resolved ``llm`` block)."""
    return cfg["agent"].get("llm") is not None


def optimizer_kind(cfg: dict[str, Any]) -> str:
    opt = cfg["agent"].get("optimizer")
    return "fixed" if opt is None else opt["kind"]


def agent_configs(store: RunStore) -> dict[str, dict[str, Any]]:
    """Stored run config per agent name."""
    return {r["agent"]: r["config"] for r in store.runs()}


def final_values(store: RunStore, data: dict[str, list[RunData]] | None = None) -> dict[str, dict[int, float]]:
    """Per agent, per seed: the final value of the task's headline metric (at the budget
    :func:`expobench.experiments.metrics.compared_length` gives)."""
    runs = store.runs()
    if not runs:
        return {}
    spec = metric_for(runs[0]["env_id"], store)
    data = load_runs(store) if data is None else data
    finals = {}
    for agent, rs in data.items():
        L = compared_length(spec, data, agent)
        finals[agent] = {r.seed: float(spec.curve(r, L)[L - 1]) for r in rs if L > 0}
    return finals


def compare(finals: dict[str, dict[int, float]], a: str, b: str) -> Comparison:
    """``a`` against ``b``, paired by seed: the mean of (a − b) over their common seeds and its interval."""
    seeds = sorted(set(finals.get(a, {})) & set(finals.get(b, {})))
    d = np.array([finals[a][s] - finals[b][s] for s in seeds])
    return Comparison(a, b, len(seeds), *paired_interval(d), identical=bool(len(d)) and bool(np.all(d == 0)),
                      sd=float(d.std(ddof=1)) if len(d) >= 2 else float("nan"))


def compare_to_fixed(store: RunStore, data: dict[str, list[RunData]] | None = None) -> list[Comparison]:
    """Every optimised LLM agent against its fixed-prompt twin (same kind and params; else the first fixed LLM
    agent), paired by seed on the final value of the task's headline metric (:func:`final_values`)."""
    finals = final_values(store, data)
    cfgs = agent_configs(store)
    fixed = [a for a, c in cfgs.items() if is_llm(c) and optimizer_kind(c) == "fixed"]
    out = []
    for agent, c in cfgs.items():
        if not is_llm(c) or optimizer_kind(c) == "fixed" or not fixed:
            continue
        twins = [f for f in fixed if cfgs[f]["agent"]["kind"] == c["agent"]["kind"]
                 and cfgs[f]["agent"]["params"] == c["agent"]["params"]] or fixed
        out.append(compare(finals, agent, twins[0]))
    return out


def compare_pairs(store: RunStore, pairs: list[tuple[str, str]], data: dict[str, list[RunData]] | None = None
                  ) -> list[Comparison]:
    """The requested ``(a, b)`` comparisons (``report --compare a:b``) whose agents are both in the experiment
    and share at least one seed."""
    finals = final_values(store, data)
    out = [compare(finals, a, b) for a, b in pairs if a in finals and b in finals]
    return [c for c in out if c.seeds]


def best_prompts(store: RunStore, runs: list[RunData], k: int = 3, per_episode: bool = False
                 ) -> list[dict[str, Any]]:
    """The (D, I) candidates with the highest mean prompt score among those used at least 3 times (or at all,
    when none was), best first, each as ``{di_hash, uses, mean_score, description, instruction}``.

    ``per_episode``: the runs' optimiser held a meta-prompt for an episode and was fed the episode's normalised
    return (``llm_mdp`` with ``propose_per: episode``); a use is then an episode and its score that return
    (``info["episode_score"]`` of the step that ended it), not a decision's own prompt score."""
    scores: dict[str, list[float]] = {}
    for r in runs:
        for rec in r.records:
            info = rec.get("info") or {}
            score = (info.get("episode_score") if info.get("episode_end") else None) if per_episode \
                else rec.get("prompt_score")
            if "di_hash" in rec and score is not None:
                scores.setdefault(rec["di_hash"], []).append(float(score))
    min_uses = 3 if any(len(v) >= 3 for v in scores.values()) else 1
    ranked = sorted((h for h, v in scores.items() if len(v) >= min_uses), key=lambda h: -np.mean(scores[h]))[:k]
    out = []
    for h in ranked:
        text = store.prompt(h)
        if text:
            out.append({"di_hash": h, "uses": len(scores[h]), "mean_score": float(np.mean(scores[h])),
                        "description": text[0], "instruction": text[1]})
    return out


def optimiser_best_prompts(store: RunStore, data: dict[str, list[RunData]] | None = None, k: int = 3
                           ) -> dict[str, list[dict[str, Any]]]:
    """:func:`best_prompts` for every LLM agent with a meta-prompt optimiser."""
    data = load_runs(store) if data is None else data
    cfgs = agent_configs(store)
    return {a: best_prompts(store, rs, k, per_episode=proposes_per_episode(cfgs[a])) for a, rs in data.items()
            if is_llm(cfgs[a]) and optimizer_kind(cfgs[a]) != "fixed"}


def proposes_per_episode(cfg: dict[str, Any]) -> bool:
    """Whether a stored run config's optimiser proposed once per episode (``llm_mdp``, ``propose_per: episode``,
    the default)."""
    agent = cfg["agent"]
    return agent.get("kind") == "llm_mdp" and (agent.get("params") or {}).get("propose_per", "episode") == "episode"
