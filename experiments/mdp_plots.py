"""Plots of the tabular MDP tasks (``expobench.envs.mdp``): return per episode and the share of episodes that
reached the goal, per agent (mean ± s.e. over runs). The regret curve is the headline metric's plot
(``regret.png``, :func:`expobench.experiments.plots.plot_metric`).

Episodes are read from each step's stored ``info`` (``episode_end``, ``episode_return``, ``episode_goal``): a run
of T decisions holds as many finished episodes as it completed, so an agent's curve stops at the fewest episodes
any of its runs finished.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from expobench.experiments.metrics import RunData, episodes, is_mdp, load_runs, mean_se  # noqa: E402
from expobench.experiments.store import RunStore  # noqa: E402


def plot_episodes(store: RunStore, data: dict[str, list[RunData]] | None = None) -> list[Path]:
    """``[OUT/episodes.png]``: (left) return per episode, (right) share of episodes so far that reached the goal,
    mean ± s.e. over each agent's runs; ``[]`` for a task without episodes or when no run finished one."""
    data = load_runs(store) if data is None else data
    if not is_mdp(data):
        return []
    per_agent = {agent: [episodes(r) for r in runs] for agent, runs in data.items()}
    per_agent = {a: eps for a, eps in per_agent.items() if min(len(e[0]) for e in eps) > 0}
    if not per_agent:
        return []
    fig, (ax_r, ax_g) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    styles = ["-", "--", "-.", ":"]
    for k, (agent, eps) in enumerate(per_agent.items()):
        E = min(len(e[0]) for e in eps)
        x = np.arange(1, E + 1)
        returns = np.stack([e[0][:E] for e in eps])
        goal_share = np.stack([np.cumsum(e[1][:E]) / x for e in eps])
        for ax, values in ((ax_r, returns), (ax_g, goal_share)):
            mean, se = mean_se(values)
            (line,) = ax.plot(x, mean, label=f"{agent} (n={len(eps)})", linestyle=styles[k % len(styles)],
                              marker="o", markersize=3, color=f"C{k % 10}")
            ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.2, linewidth=0)
    name = store.get_meta("name", store.out.name)
    ax_r.set(xlabel="episode", ylabel="return (mean ± s.e. over runs)", title=f"{name}: return per episode")
    ax_g.set(xlabel="episode", ylabel="share of episodes reaching the goal", ylim=(-0.02, 1.02),
             title=f"{name}: goal reached, cumulative share")
    for ax in (ax_r, ax_g):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = store.out / "episodes.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]
