"""Plots written into the experiment's output directory (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from expobench.experiments.metrics import RunData, compared_length, load_runs, mean_se, metric_for  # noqa: E402
from expobench.experiments.store import RunStore  # noqa: E402


def plot_metric(store: RunStore, path: Path | None = None, data: dict[str, list[RunData]] | None = None) -> Path:
    """The task's headline metric along its axis (bandits: cumulative expected regret per round; optimisation
    tasks: per evaluation after the initial design, x = 0 being the initial design alone): mean line and ± s.e.
    band per agent; on the evaluation axis a dashed line marks the budget every agent reached, where the summary
    compares them. Returns the PNG path (default ``OUT/regret.png`` for bandits, ``OUT/<metric>.png``
    otherwise)."""
    runs = store.runs()
    spec = metric_for(runs[0]["env_id"], store) if runs else None  # a store mixing experiments is refused here
    fig = metric_figure(store, data)  # and one without steps here
    path = path or store.out / ("regret.png" if spec.name == "cumulative_regret" else f"{spec.name}.png")
    fig.savefig(path)
    plt.close(fig)
    return path


def metric_figure(store: RunStore, data: dict[str, list[RunData]] | None = None) -> plt.Figure:
    """The figure :func:`plot_metric` saves (the caller closes it); ``data``: the store's runs, when loaded."""
    runs_by_agent = load_runs(store) if data is None else data
    if not runs_by_agent:
        raise ValueError(f"no committed steps in {store.out}: nothing to plot")
    spec = metric_for(store.runs()[0]["env_id"], store)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    curves_by_agent = {}
    for agent, runs in runs_by_agent.items():
        T = spec.common_length(runs)
        curves_by_agent[agent] = {r.seed: spec.curve(r, T) for r in runs}
    twins = identical_groups(curves_by_agent)
    for k, (agent, runs) in enumerate(runs_by_agent.items()):
        if agent in twins and twins[agent][0] != agent:
            continue  # drawn once, under the first agent of its group
        curves = np.stack(list(curves_by_agent[agent].values()))
        mean, se = mean_se(curves)
        x = spec.x(curves.shape[1])
        label = " ≡ ".join(twins.get(agent, [agent])) + f" (n={len(runs)})"
        (line,) = ax.plot(x, mean, label=label, linestyle=_STYLES[k % len(_STYLES)], marker=_MARKERS[k % len(_MARKERS)],
                          markevery=max(1, len(x) // 8), markersize=4)
        ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.2, linewidth=0)
    if spec.axis == "evaluation":
        budget = compared_length(spec, runs_by_agent, next(iter(runs_by_agent))) - 1
        ax.axvline(budget, color="0.4", linestyle="--", linewidth=1, label=f"compared at {budget} evaluations")
    name = store.get_meta("name", store.out.name)
    ax.set(xlabel=spec.axis_label, ylabel=f"{spec.label}\n(mean ± s.e. band over n runs)",
           title=f"{name}: {spec.label} (mean ± s.e.)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


_STYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "D", "v", "x", "P", "*"]


def identical_groups(curves: dict[str, dict[int, np.ndarray]]) -> dict[str, list[str]]:
    """Agents whose curves are identical over the whole run in every seed (same seeds), grouped: ``{agent: group}``
    for every agent in a group of two or more, the group in the given order. Drawn once and named together, so
    that one line cannot hide another."""
    out: dict[str, list[str]] = {}
    agents = list(curves)
    for i, a in enumerate(agents):
        if a in out:
            continue
        group = [a] + [b for b in agents[i + 1:] if b not in out and _same(curves[a], curves[b])]
        if len(group) > 1:
            for g in group:
                out[g] = group
    return out


def _same(a: dict[int, np.ndarray], b: dict[int, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[s].shape == b[s].shape and np.array_equal(a[s], b[s], equal_nan=True)
                                        for s in a)


def plot_all(store: RunStore, data: dict[str, list[RunData]] | None = None) -> list[Path]:
    """Every plot that applies to the experiment: the headline metric, plus the optimiser plots for LLM agents
    whose meta-prompt was optimised. ``data``: the store's runs, when the caller has loaded them."""
    data = load_runs(store) if data is None else data
    from expobench.experiments.mdp_plots import plot_episodes  # episodic MDP tasks: return per episode

    return [plot_metric(store, data=data), *plot_optimizer(store, data), *plot_episodes(store, data)]


def plot_optimizer(store: RunStore, data: dict[str, list[RunData]] | None = None) -> list[Path]:
    """For agents whose meta-prompt was optimised: (left) the prompt score per iteration, mean ± s.e. over
    runs, and (right) the sampling probability of the meta-prompts that hold the most mass at the end (mean over
    runs), from each step's ``optimizer.top5`` record. Returns ``[OUT/optimizer.png]`` or ``[]``."""
    data = load_runs(store) if data is None else data
    by_agent = {agent: runs for agent, runs in data.items()
                if any(rec.get("optimizer") for r in runs for rec in r.records)}
    if not by_agent:
        return []
    fig, axes = plt.subplots(len(by_agent), 2, figsize=(11, 3.6 * len(by_agent)), dpi=110, squeeze=False)
    for (agent, runs), (ax_s, ax_p) in zip(by_agent.items(), axes):
        T = min(len(r.records) for r in runs)
        scores = np.array([[rec.get("prompt_score", np.nan) for rec in r.records[:T]] for r in runs], dtype=float)
        mean, se = mean_se(scores)
        x = np.arange(1, T + 1)
        ax_s.plot(x, mean, color="C0")
        ax_s.fill_between(x, mean - se, mean + se, color="C0", alpha=0.2, linewidth=0)
        ax_s.set(title=f"{agent}: prompt score (mean ± s.e. over {len(runs)} runs)", xlabel="iteration",
                 ylabel="score")
        ax_s.grid(alpha=0.3)
        mass = _top_mass(runs, T)
        names = candidate_labels(store, runs)
        for k, (arm, series) in enumerate(mass.items()):
            ax_p.plot(x, series, label=names.get(arm, f"(D, I) = {arm}"), linestyle=_STYLES[k % len(_STYLES)])
        ax_p.set(title=f"{agent}: P(top meta-prompts), mean over {len(runs)} runs",
                 xlabel="iteration", ylabel="P(meta-prompt)", ylim=(0, 1))
        if mass:
            ax_p.legend(fontsize=6, title="candidate: instruction (pool indices D, I)", title_fontsize=7)
        ax_p.grid(alpha=0.3)
    fig.tight_layout()
    path = store.out / "optimizer.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


def _top_mass(runs: list, T: int, k: int = 5) -> dict[str, np.ndarray]:
    """Mean over runs of P_t(arm) for the k arms with most final mass; an arm outside a step's top 5 counts 0."""
    per_run = []
    for r in runs:
        steps = []
        for rec in r.records[:T]:
            top = (rec.get("optimizer") or {}).get("top5") or []
            steps.append({str(arm): float(p) for arm, p in top})
        per_run.append(steps)
    final: dict[str, float] = {}
    for steps in per_run:
        for arm, p in steps[-1].items():
            final[arm] = final.get(arm, 0.0) + p / len(per_run)
    chosen = sorted(final, key=final.get, reverse=True)[:k]
    return {arm: np.mean([[s.get(arm, 0.0) for s in steps] for steps in per_run], axis=0) for arm in chosen}


def candidate_labels(store: RunStore, runs: list, width: int = 48) -> dict[str, str]:
    """A readable legend entry per pool arm ``"[d, i]"`` the runs used: the start of its instruction and the pool
    indices, from the (D, I) text the store keeps for the steps that used it."""
    hashes: dict[str, str] = {}
    for r in runs:
        for rec in r.records:
            ids = rec.get("mp_ids") or {}
            if "d" in ids and "i" in ids and "di_hash" in rec:
                hashes.setdefault(str([ids["d"], ids["i"]]), rec["di_hash"])
    out = {}
    for arm, h in hashes.items():
        text = store.prompt(h)
        if text:
            snippet = " ".join(text[1].split())
            snippet = snippet if len(snippet) <= width else snippet[:width - 1] + "…"
            out[arm] = f"{snippet} {arm}"
    return out
