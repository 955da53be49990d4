"""The Python API: run an experiment from Python and read its results as tidy pandas DataFrames.

    import expobench
    exp = expobench.run({"name": "x", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 50, "seeds": [0, 1],
                         "agents": [{"name": "ucb", "kind": "ucb"}], "out": "runs/x"})
    exp.steps().groupby("agent").regret.sum()

:func:`run` takes what the CLI's ``run`` takes (a YAML path, a mapping, or an ``ExperimentConfig``), validates it
before any work (a bad config raises :class:`~expobench.experiments.errors.ConfigError`), runs or resumes it, and
returns an :class:`Experiment`; :func:`load` opens a finished or interrupted output directory. The CLI is a thin
layer over these functions; ``expobench export OUT --format csv|parquet`` writes the same tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expobench.experiments.config import ExperimentConfig, load_config, parse_config
from expobench.experiments.errors import ConfigError
from expobench.experiments.store import STORE_FILE, RunStore

if TYPE_CHECKING:
    import pandas as pd

# Columns of Experiment.steps(), in order; documented in docs/python.md.
STEP_COLUMNS = [
    "run_id", "env", "agent", "kind", "seed", "t", "action", "reward", "expected_reward",
    "optimal_expected_reward", "regret", "cumulative_regret", "prompt_score", "mp_hash", "di_hash",
    "description_id", "instruction_id", "exemplar_id", "llm_calls", "prompt_tokens", "completion_tokens", "invalid", "fallback",
]


def run(config: str | Path | dict[str, Any] | ExperimentConfig, *, out: str | Path | None = None,
        seeds: list[int] | None = None, use_cache: bool = True, progress: bool = False,
        trust_imports: bool | None = None, executor: str | None = None, address: str | None = None,
        workers: int | None = None) -> Experiment:
    """Run (or resume) an experiment and return its results.

    ``config``: a YAML path, a mapping with the fields of a config file, or an ``ExperimentConfig``. ``out`` and
    ``seeds`` override the config's fields (as ``--out`` and ``--seeds`` do). Finished runs in ``out`` are kept,
    interrupted ones resumed. A config's ``imports`` run only with ``trust_imports=True`` (or
    ``EXPOBENCH_TRUST_IMPORTS=1``). Raises ``ConfigError`` for a bad config (nothing is written) and
    ``StoreMismatch`` when ``out`` holds another experiment. ``executor``, ``address`` and ``workers`` override the
    config's ``executor:`` (``executor="ray"``: the runs on a Ray cluster; docs/scale.md)."""
    from expobench.experiments.executors import with_executor

    overrides = {"out": None if out is None else str(out), "seeds": seeds}
    cfg = with_executor(_resolve(config, overrides, trust_imports), executor, address, workers)
    from expobench.experiments.runner import run_experiment

    store = run_experiment(cfg, use_cache=use_cache, progress=progress)
    store.close()
    return Experiment(cfg.out)


def _resolve(config: Any, overrides: dict[str, Any], trust_imports: bool | None = None) -> ExperimentConfig:
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(config, ExperimentConfig):
        return config.model_copy(update=overrides) if overrides else config
    if isinstance(config, (str, Path)):
        return load_config(config, overrides, trust_imports)
    if isinstance(config, dict):
        return parse_config({**config, **overrides}, source="config", trust_imports=trust_imports)
    raise ConfigError(f"config: expected a YAML path, a mapping or an ExperimentConfig, got {type(config).__name__}")


def load(out: str | Path) -> Experiment:
    """The experiment stored in ``out`` (raises FileNotFoundError when there is no run store)."""
    return Experiment(out)


class Experiment:
    """Results of one experiment output directory. Each method reads the store afresh (a running experiment's
    committed steps are visible)."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        if not (self.out / STORE_FILE).exists():
            raise FileNotFoundError(f"no experiment in {self.out}: {STORE_FILE} is missing")

    def __repr__(self) -> str:
        return f"Experiment({str(self.out)!r}, name={self.name!r})"

    def _store(self) -> RunStore:
        return RunStore(self.out, create=False)

    @property
    def name(self) -> str:
        with self._store() as store:
            return str(store.get_meta("name", self.out.name))

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the experiment was run with (plain JSON)."""
        with self._store() as store:
            return store.get_meta("config", {})

    def runs(self) -> pd.DataFrame:
        """One row per (agent, seed) run: run_id, env, agent, kind, seed, horizon, status, steps_done, wall_s."""
        import pandas as pd

        with self._store() as store:
            rows = [{"run_id": r["run_id"], "env": r["env_id"], "agent": r["agent"], "kind": r["kind"],
                     "seed": r["seed"], "horizon": r["horizon"], "status": r["status"],
                     "steps_done": r["steps_done"], "wall_s": r["wall_s"]} for r in store.runs()]
        return pd.DataFrame(rows, columns=["run_id", "env", "agent", "kind", "seed", "horizon", "status",
                                           "steps_done", "wall_s"])

    def steps(self) -> pd.DataFrame:
        """One row per (run, step), columns :data:`STEP_COLUMNS`.

        ``regret`` is the step's expected regret (optimal expected reward − expected reward of the action, NaN
        where the env gives no oracle) and ``cumulative_regret`` its running sum within the run. ``action`` is an
        integer column when every action is an integer (bandits), else the action as JSON text. The LLM columns
        (``prompt_score`` … ``fallback``) are empty for classical agents."""
        import numpy as np
        import pandas as pd

        rows: list[dict[str, Any]] = []
        with self._store() as store:
            for r in store.runs():
                for s in store.steps(r["run_id"]):
                    rec = s.record
                    ids = rec.get("mp_ids") or {}
                    rows.append({
                        "run_id": r["run_id"], "env": r["env_id"], "agent": r["agent"], "kind": r["kind"],
                        "seed": r["seed"], "t": s.t, "action": s.action, "reward": s.reward,
                        "expected_reward": s.expected_reward, "optimal_expected_reward": s.optimal_expected_reward,
                        "prompt_score": rec.get("prompt_score"), "mp_hash": rec.get("mp_hash"),
                        "di_hash": rec.get("di_hash"), "description_id": ids.get("d"),
                        "instruction_id": ids.get("i"), "exemplar_id": ids.get("e"), "llm_calls": rec.get("calls"),
                        "prompt_tokens": rec.get("prompt_tokens"), "completion_tokens": rec.get("completion_tokens"),
                        "invalid": rec.get("invalid"), "fallback": rec.get("fallback"),
                    })
        df = pd.DataFrame(rows, columns=[c for c in STEP_COLUMNS if c not in ("regret", "cumulative_regret")])
        integer_actions = all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in df["action"])
        df["action"] = (df["action"].astype("int64") if integer_actions and len(df)
                        else df["action"].map(lambda a: json.dumps(a, sort_keys=True)))
        for col in ("reward", "expected_reward", "optimal_expected_reward", "prompt_score"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        df["regret"] = df["optimal_expected_reward"] - df["expected_reward"]
        df["cumulative_regret"] = df.groupby("run_id", sort=False)["regret"].cumsum()
        for col in ("llm_calls", "prompt_tokens", "completion_tokens", "description_id", "instruction_id",
                    "exemplar_id"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        for col in ("invalid", "fallback"):
            df[col] = df[col].astype("boolean")
        return df[STEP_COLUMNS]

    def summary(self) -> pd.DataFrame:
        """The summary table (``expobench summary``): one row per agent with its runs, horizon, final metric
        (mean and s.e.), final cumulative regret and diagnostics."""
        import pandas as pd

        from expobench.experiments.metrics import summarize

        with self._store() as store:
            return pd.DataFrame([s.to_json() for s in summarize(store)])

    def export(self, fmt: str = "csv", dest: str | Path | None = None) -> list[Path]:
        """Write ``steps``, ``runs`` and ``summary`` as CSV or Parquet files into ``dest`` (default
        ``OUT/export``); returns the paths."""
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"format: expected csv or parquet, got {fmt!r}")
        dest = Path(dest) if dest is not None else self.out / "export"
        dest.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, table in (("steps", self.steps()), ("runs", self.runs()), ("summary", self.summary())):
            path = dest / f"{name}.{fmt}"
            if fmt == "csv":
                table.to_csv(path, index=False)
            else:
                table.to_parquet(path, index=False)
            paths.append(path)
        return paths
