"""``expobench report OUT...``: a self-contained HTML page (plots embedded) and its Markdown twin.

Per experiment: the headline-metric curves (mean ± s.e.), a table per agent (final metric ± s.e., runs, LLM calls,
tokens, time per run, invalid/fallback rates; the experiment's wall time once; a warning when every
bandit seed has the best arm at one position, regret by position when positions vary, and the arm each bandit
run settled on), every optimised meta-prompt agent beside its fixed-prompt twin with
the paired difference and a 95% interval over seeds (common random numbers make seeds paired; bootstrap from 5
paired seeds, the paired t-interval and a flag below; identical results said to be identical) and its power
(the smallest difference the seeds detect with 80% power; the seeds the observed difference would need),
and the best meta-prompts each optimiser found.
"""

from __future__ import annotations

import base64
import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expobench.experiments.comparisons import (
    Comparison,
    compare_pairs,
    compare_to_fixed,
    optimiser_best_prompts,
)
from expobench.experiments.metrics import (
    AgentSummary,
    FinalArms,
    experiment_warnings,
    final_arms,
    load_runs,
    metric_for,
    regret_by_position,
    summarize,
)
from expobench.experiments.plots import plot_all
from expobench.experiments.store import RunStore


@dataclass
class ExperimentReport:
    name: str
    out: Path
    env_id: str
    metric_label: str
    summaries: list[AgentSummary]
    usage: dict[str, dict[str, float]]
    comparisons: list[Comparison]
    best_prompts: dict[str, list[dict[str, Any]]]
    plots: list[Path]
    requested: list[Comparison] = field(default_factory=list)  # `report --compare a:b`
    notes: list[str] = field(default_factory=list)  # warnings a reader must see (e.g. a fixed best-arm position)
    by_position: dict[str, dict[int, tuple[float, int]]] = field(default_factory=dict)
    wall_s: float | None = None  # the experiment's wall time (all runs in lockstep)
    final_arms: dict[str, FinalArms] = field(default_factory=dict)  # bandits: the arm each run settled on


def analyse(out: Path, pairs: list[tuple[str, str]] | None = None) -> ExperimentReport:
    """Everything the report shows for one output directory; ``pairs`` are extra ``(a, b)`` paired comparisons."""
    store = RunStore(out, create=False)
    try:
        runs = store.runs()
        if not runs:
            raise ValueError(f"{out} holds no runs")
        env_id = runs[0]["env_id"]
        spec = metric_for(env_id, store)
        data = load_runs(store)  # read once: every part below uses it
        summaries = summarize(store, data)
        usage = _usage(store, runs)
        comparisons = compare_to_fixed(store, data)
        best = optimiser_best_prompts(store, data)
        plots = plot_all(store, data)
        requested = compare_pairs(store, pairs or [], data)
        notes = experiment_warnings(spec, data)
        wall = store.get_meta("wall_s")
        settled = final_arms(data, store.get_meta("n_actions")) if spec.name == "cumulative_regret" else {}
        return ExperimentReport(store.get_meta("name", out.name), out, env_id, spec.label, summaries, usage,
                                comparisons, best, plots, requested, notes,
                                regret_by_position(data), None if wall is None else float(wall), settled)
    finally:
        store.close()


def _usage(store: RunStore, runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    per_run = store.call_stats()
    out: dict[str, dict[str, float]] = {}
    for r in runs:
        u = out.setdefault(r["agent"], {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "wall_s": 0.0,
                                        "cache_hits": 0})
        s = per_run.get(r["run_id"], {})
        for k in ("calls", "prompt_tokens", "completion_tokens", "cache_hits"):
            u[k] += s.get(k, 0)
        u["wall_s"] += r["wall_s"]
    return out


# -- rendering -------------------------------------------------------------------------------------------------

def _fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}g}" if abs(x) >= 1000 else f"{x:.{digits}f}"


def _table_rows(rep: ExperimentReport) -> tuple[list[str], list[list[str]]]:
    budget = "evaluations" if any(s.axis == "evaluation" for s in rep.summaries) else "T"
    head = ["agent", "runs", budget, f"final {rep.metric_label}", "s.e.", "LLM calls", "tokens (prompt/completion)",
            "time per run (s)", "invalid rate", "fallback rate"]
    rows = []
    for s in rep.summaries:
        u = rep.usage.get(s.agent, {})
        rows.append([
            s.agent, str(s.runs), str(s.horizon), _fmt(s.metric_mean), _fmt(s.metric_se), str(int(u.get("calls", 0))),
            f"{int(u.get('prompt_tokens', 0))}/{int(u.get('completion_tokens', 0))}",
            _fmt(u.get("wall_s", 0.0) / max(s.runs, 1), 2),
            _fmt(s.diagnostics.get("invalid_rate", float("nan"))),
            _fmt(s.diagnostics.get("fallback_rate", float("nan"))),
        ])
    return head, rows


def _wall_text(rep: ExperimentReport) -> str:
    return "" if rep.wall_s is None else f" Experiment wall time {rep.wall_s:.1f} s (runs advance in lockstep)."


def _position_rows(rep: ExperimentReport) -> tuple[list[str], list[list[str]]]:
    positions = sorted({p for by in rep.by_position.values() for p in by})
    head = ["agent", *[f"best arm at {p}" for p in positions]]
    rows = [[agent, *[f"{by[p][0]:.2f} (n={by[p][1]})" if p in by else "–" for p in positions]]
            for agent, by in rep.by_position.items()]
    return head, rows


def _final_arm_rows(rep: ExperimentReport) -> tuple[list[str], list[list[str]]]:
    k = max(len(f.counts) for f in rep.final_arms.values())
    head = ["agent", *[f"arm {a}" for a in range(k)], "on the best arm"]
    rows = [[agent, *[str(c) for c in f.counts], f"{f.on_best} of {f.runs}"] for agent, f in rep.final_arms.items()]
    return head, rows


def _final_arms_title(rep: ExperimentReport) -> str:
    last = next(iter(rep.final_arms.values())).last
    return f"Arm played most in the last {last} rounds (runs; arm 0 is listed first in an LLM's prompt)"


def _cmp_rows(rep: ExperimentReport, requested: bool = False) -> tuple[list[str], list[list[str]]]:
    if requested:
        head = ["A", "B", "paired seeds", f"Δ final {rep.metric_label} (A − B)", "interval"]
    else:
        head = ["optimised", "fixed twin", "paired seeds", f"Δ final {rep.metric_label} (optimised − fixed)",
                "interval"]
    head.append("power (80%, α = 0.05)")
    rows = [[c.optimised, c.fixed, str(c.seeds), _fmt(c.diff), c.interval_text(), c.power_text()]
            for c in (rep.requested if requested else rep.comparisons)]
    return head, rows


def _md_text(text: str) -> str:
    """Untrusted text (an LLM-written prompt) as inert Markdown on one line: HTML escaped, so a Markdown renderer
    shows ``<script>`` instead of running it, and Markdown's own markup characters escaped."""
    escaped = html.escape(" ".join(text.split()), quote=False)
    return "".join("\\" + c if c in "\\`*_[]#|" else c for c in escaped)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


_INTRO = ("Lower is better for every metric. Curves show mean ± standard error over runs; the comparison table gives "
          "the paired difference over common seeds with a 95% interval (percentile bootstrap from 5 paired seeds; the "
          "paired t-interval, flagged, below 5) and its power: the smallest true difference the seeds detect with 80% "
          "power in a two-sided paired t-test at α = 0.05, from the paired standard deviation, and how many seeds the "
          "observed difference would need.")


def render_markdown(reports: list[ExperimentReport], dest: Path) -> str:
    """The Markdown twin; copies each plot beside ``dest`` as ``NAME_PLOT.png`` and links it relatively."""
    parts = ["# expobench report", "",
             _INTRO, ""]
    for rep in reports:
        parts += [f"## {rep.name}", "", f"Environment `{rep.env_id}`, results in `{rep.out}`.{_wall_text(rep)}", ""]
        parts += [f"> **Warning:** {n}" for n in rep.notes] + ([""] if rep.notes else [])
        for p in rep.plots:
            # a copy beside the report, so the Markdown stays readable wherever the report is moved or committed
            local = dest.parent / f"{rep.name}_{Path(p).name}"
            if Path(p).resolve() != local.resolve():
                shutil.copyfile(p, local)
            parts += [f"![{rep.name}: {Path(p).stem}]({local.name})", ""]
        parts += [_md_table(*_table_rows(rep)), ""]
        if rep.by_position:
            parts += ["### Final cumulative regret by best-arm position", "", _md_table(*_position_rows(rep)), ""]
        if rep.final_arms:
            parts += [f"### {_final_arms_title(rep)}", "", _md_table(*_final_arm_rows(rep)), ""]
        if rep.comparisons:
            parts += ["### Fixed vs optimised meta-prompt", "", _md_table(*_cmp_rows(rep)), ""]
        if rep.requested:
            parts += ["### Requested comparisons", "", _md_table(*_cmp_rows(rep, requested=True)), ""]
        for agent, prompts in rep.best_prompts.items():
            parts += [f"### Best meta-prompts found by {agent}", ""]
            for i, p in enumerate(prompts, 1):
                parts += [f"{i}. mean prompt score {p['mean_score']:.3f} over {p['uses']} uses", "",
                          "   > **D:** " + _md_text(p["description"]), "   >",
                          "   > **I:** " + _md_text(p["instruction"]), ""]
    return "\n".join(parts) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}.warning{background:#fff4d6;padding:0.5em 1em;border-left:3px solid #d90}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
blockquote{background:#f8f8f8;margin:0.5em 0;padding:0.5em 1em;border-left:3px solid #99c}"""


def render_html(reports: list[ExperimentReport]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>expobench report</title>"
             f"<style>{_CSS}</style></head><body><h1>expobench report</h1>",
             f"<p>{html.escape(_INTRO)}</p>"]
    for rep in reports:
        parts.append(f"<section class='experiment'><h2>{html.escape(rep.name)}</h2>"
                     f"<p>Environment <code>{html.escape(rep.env_id)}</code>.{html.escape(_wall_text(rep))}</p>")
        parts += [f"<p class='warning'><b>Warning:</b> {html.escape(n)}</p>" for n in rep.notes]
        for p in rep.plots:
            data = base64.b64encode(Path(p).read_bytes()).decode()
            parts.append(f"<img class='plot' alt='{html.escape(p.stem)}' src='data:image/png;base64,{data}'>")
        parts.append(_html_table(*_table_rows(rep)))
        if rep.by_position:
            parts.append("<h3>Final cumulative regret by best-arm position</h3>" + _html_table(*_position_rows(rep)))
        if rep.final_arms:
            parts.append(f"<h3>{html.escape(_final_arms_title(rep))}</h3>" + _html_table(*_final_arm_rows(rep)))
        if rep.comparisons:
            parts.append("<h3>Fixed vs optimised meta-prompt</h3>" + _html_table(*_cmp_rows(rep)))
        if rep.requested:
            parts.append("<h3>Requested comparisons</h3>" + _html_table(*_cmp_rows(rep, requested=True)))
        for agent, prompts in rep.best_prompts.items():
            parts.append(f"<h3>Best meta-prompts found by {html.escape(agent)}</h3><ol>")
            for p in prompts:
                parts.append(f"<li>mean prompt score {p['mean_score']:.3f} over {p['uses']} uses<blockquote>"
                             f"<b>D:</b> {html.escape(p['description'])}<br><b>I:</b> "
                             f"{html.escape(p['instruction'])}</blockquote></li>")
            parts.append("</ol>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(outs: list[Path], dest: Path, pairs: list[tuple[str, str]] | None = None) -> tuple[Path, Path]:
    """Analyse every output directory and write ``dest.html`` and ``dest.md``; returns both paths. ``pairs``:
    extra paired comparisons ``(a, b)``, made in every experiment that holds both agents on common seeds; a pair
    that no experiment can make is a ValueError naming it."""
    reports = [analyse(Path(o), pairs) for o in outs]
    for a, b in pairs or []:
        if not any(c.optimised == a and c.fixed == b for rep in reports for c in rep.requested):
            raise ValueError(f"--compare {a}:{b}: no experiment holds both agents on a common seed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    html_path, md_path = dest.with_suffix(".html"), dest.with_suffix(".md")
    html_path.write_text(render_html(reports))
    md_path.write_text(render_markdown(reports, md_path))
    return html_path, md_path
