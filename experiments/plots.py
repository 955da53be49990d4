"""Plots written into the experiment's output directory (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.metrics import cumulative_regret, load_runs, mean_se  # noqa: E402
from experiments.store import RunStore  # noqa: E402


def plot_regret(store: RunStore, path: Path | None = None) -> Path:
    """Cumulative expected regret vs round: mean line and ± s.e. band per agent. Returns the PNG path."""
    runs_by_agent = load_runs(store)
    if not runs_by_agent:
        raise ValueError(f"no committed steps in {store.out}: nothing to plot")
    path = path or store.out / "regret.png"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for agent, runs in runs_by_agent.items():
        T = min(len(r.actions) for r in runs)
        curves = np.stack([cumulative_regret(r)[:T] for r in runs])
        mean, se = mean_se(curves)
        x = np.arange(1, T + 1)
        (line,) = ax.plot(x, mean, label=f"{agent} (n={len(runs)})")
        ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.2, linewidth=0)
    name = store.get_meta("name", store.out.name)
    ax.set(xlabel="round", ylabel="cumulative expected regret", title=f"{name}: cumulative regret (mean ± s.e.)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
