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
           title=f"{name}\n{spec.label} (mean ± s.e.)")  # two lines: a long run name fits
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
    """For agents whose meta-prompt was optimised, one row each: (left) the prompt score per iteration, mean ±
    s.e. over runs; (middle) the probability of the run's most likely meta-prompt, P_t's top-1 mass, and (right)
    the entropy of P_t (nats), both per seed (thin lines) with their mean (thick). Per-seed lines show what a mean
    of "P(candidate)" hides: seeds that each settle on a different candidate. The legend names the candidate each
    seed settled on (its most likely meta-prompt at the end). From each step's ``optimizer`` record (``top5``,
    ``entropy``). Returns ``[OUT/optimizer.png]`` or ``[]``."""
    data = load_runs(store) if data is None else data
    by_agent = {agent: runs for agent, runs in data.items()
                if any(rec.get("optimizer") for r in runs for rec in r.records)}
    if not by_agent:
        return []
    fig, axes = plt.subplots(len(by_agent), 3, figsize=(15, 3.8 * len(by_agent)), dpi=110, squeeze=False)
    for (agent, runs), (ax_s, ax_p, ax_h) in zip(by_agent.items(), axes):
        T = min(len(r.records) for r in runs)
        x = np.arange(1, T + 1)
        scores = np.array([[rec.get("prompt_score", np.nan) for rec in r.records[:T]] for r in runs], dtype=float)
        mean, se = mean_se(scores)
        ax_s.plot(x, mean, color="C0")
        ax_s.fill_between(x, mean - se, mean + se, color="C0", alpha=0.2, linewidth=0)
        ax_s.set(title=f"{agent}: prompt score (mean ± s.e. over {len(runs)} runs)", xlabel="iteration",
                 ylabel="score")
        names = candidate_labels(store, runs)
        top1, ent = optimizer_trajectories(runs, T)
        for k, r in enumerate(runs):
            arm, p = settled_candidate(r, T)
            label = f"seed {r.seed}: {names.get(arm, arm or '?')} (P = {p:.2f})"
            ax_p.plot(x, top1[k], color=f"C{k % 10}", linewidth=0.8, alpha=0.7, label=label)
            ax_h.plot(x, ent[k], color=f"C{k % 10}", linewidth=0.8, alpha=0.7)
        for ax, series in ((ax_p, top1), (ax_h, ent)):
            if np.isfinite(series).any():
                ax.plot(x, np.nanmean(series, axis=0), color="black", linewidth=2.2, label="mean over seeds")
            ax.grid(alpha=0.3)
        ax_p.set(title=f"{agent}: P_t of each run's most likely meta-prompt", xlabel="iteration",
                 ylabel="top-1 probability", ylim=(0, 1.02))
        ax_h.set(title=f"{agent}: entropy of P_t per seed", xlabel="iteration", ylabel="entropy (nats)")
        ax_p.legend(fontsize=5.5, title="settled on: instruction (pool indices D, I)", title_fontsize=6.5)
    fig.tight_layout()
    path = store.out / "optimizer.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


def optimizer_trajectories(runs: list, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Per run and step (shape ``(runs, T)``): the top-1 probability of the optimiser's distribution P_t and its
    entropy, from the step records (nan where a step has no optimiser record)."""
    top1 = np.full((len(runs), T), np.nan)
    ent = np.full((len(runs), T), np.nan)
    for k, r in enumerate(runs):
        for t, rec in enumerate(r.records[:T]):
            opt = rec.get("optimizer") or {}
            if opt.get("top5"):
                top1[k, t] = max(float(p) for _, p in opt["top5"])
            if opt.get("entropy") is not None:
                ent[k, t] = float(opt["entropy"])
    return top1, ent


def settled_candidate(run: RunData, T: int) -> tuple[str | None, float]:
    """The candidate a run ends on: the arm (``"[d, i]"``) with the most probability at its last optimiser step
    before ``T``, and that probability; ``(None, nan)`` without one."""
    for rec in reversed(run.records[:T]):
        top = (rec.get("optimizer") or {}).get("top5")
        if top:
            arm, p = max(top, key=lambda a: float(a[1]))
            return str(arm), float(p)
    return None, float("nan")


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
