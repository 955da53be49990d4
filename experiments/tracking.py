"""Experiment trackers: MLflow and TensorBoard (the config's ``tracking:`` list; extra ``tracking``).

After an experiment's runs are stored, each finished run not yet logged to a tracker is logged:

- **mlflow** — one MLflow run per expobench run (named by its run id, nested under one parent run per experiment)
  with the run's parameters (env id and kwargs, agent, kind, seed, horizon, agent params), and per-step metrics
  ``reward``, ``regret``, ``cumulative_regret``, the task family's headline metric (``best_loss``,
  ``optimality_gap``, ``simple_regret``, ``neg_best_score`` …) and, for LLM agents, ``prompt_score``. The parent
  run holds the resolved config, the plots (PNG) and each agent's final metric (mean over its runs). Default
  store: MLflow's local SQLite store ``sqlite:///OUT/mlflow.db`` (no server), artifacts under ``OUT/mlartifacts``.
- **tensorboard** — one event directory per run (``OUT/tensorboard/<run id>``) with the same per-step scalars.

Which runs a tracker has received is kept in the run store (meta ``tracked``), so re-running a finished
experiment logs nothing twice, and adding seeds later logs only the new runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from expobench.experiments.config import ExperimentConfig, TrackingConfig
from expobench.experiments.metrics import MetricSpec, RunData, cumulative_regret, load_runs, metric_for
from expobench.experiments.store import RunStore


def step_metrics(run: RunData, spec: MetricSpec) -> dict[str, np.ndarray]:
    """Per-step metric curves of one run (each shape [T]) and the task's headline metric ``spec`` on its own axis
    (optimisation tasks: per evaluation, step 0 being the initial design); NaN entries are not logged."""
    out = {"reward": run.rewards, "regret": run.optimal - run.expected, "cumulative_regret": cumulative_regret(run)}
    if spec.name != "cumulative_regret":
        out[spec.name] = spec.curve(run)
    scores = np.array([r.get("prompt_score", np.nan) if "llm" in r else np.nan for r in run.records], dtype=float)
    if np.isfinite(scores).any():
        out["prompt_score"] = scores
    return out


def _params(run_row: dict[str, Any]) -> dict[str, str]:
    cfg = run_row["config"]
    agent = cfg.get("agent", {})
    params = {"env": run_row["env_id"], "agent": run_row["agent"], "kind": run_row["kind"],
              "seed": str(run_row["seed"]), "horizon": str(run_row["horizon"])}
    params.update({f"env.{k}": json.dumps(v) for k, v in (cfg.get("env", {}).get("kwargs") or {}).items()})
    params.update({f"params.{k}": json.dumps(v) for k, v in (agent.get("params") or {}).items()})
    if agent.get("optimizer"):
        params["optimizer"] = str(agent["optimizer"].get("kind"))
    return {k: v[:500] for k, v in params.items()}  # MLflow's limit on a param value


def track(cfg: ExperimentConfig, store: RunStore) -> None:
    """Log every finished, not yet logged run of ``store`` to each tracker of ``cfg.tracking``."""
    if not cfg.tracking:
        return
    tracked: dict[str, list[str]] = store.get_meta("tracked", {}) or {}
    runs = {r["run_id"]: r for r in store.runs() if r["status"] == "done"}
    pending = {}
    for tracker in cfg.tracking:
        key = _tracker_key(cfg, tracker)
        done = set(tracked.get(key, []))
        pending[key] = (tracker, [rid for rid in runs if rid not in done])
    if not any(new for _, new in pending.values()):
        return  # a re-run of a finished experiment reads no steps
    data = {run.run_id: run for group in load_runs(store, finished_only=True).values() for run in group}
    spec = metric_for(next(iter(runs.values()))["env_id"], store)
    for key, (tracker, new) in pending.items():
        new = [rid for rid in new if rid in data]
        if not new:
            continue
        if tracker.kind == "mlflow":
            _log_mlflow(cfg, tracker, store, spec, [runs[r] for r in new], data)
        else:
            _log_tensorboard(cfg, tracker, spec, [runs[r] for r in new], data)
        tracked[key] = sorted({*tracked.get(key, []), *new})
        store.set_meta("tracked", tracked)
        store.flush()


def _tracker_key(cfg: ExperimentConfig, tracker: TrackingConfig) -> str:
    if tracker.kind == "mlflow":
        return f"mlflow:{mlflow_uri(cfg, tracker)}:{tracker.experiment or cfg.name}"
    return f"tensorboard:{tensorboard_dir(cfg, tracker)}"


def mlflow_uri(cfg: ExperimentConfig, tracker: TrackingConfig) -> str:
    return tracker.uri or f"sqlite:///{(cfg.out / 'mlflow.db').resolve()}"


def tensorboard_dir(cfg: ExperimentConfig, tracker: TrackingConfig) -> Path:
    return Path(tracker.logdir) if tracker.logdir is not None else cfg.out / "tensorboard"


def _log_mlflow(cfg: ExperimentConfig, tracker: TrackingConfig, store: RunStore, spec: MetricSpec,
                rows: list[dict[str, Any]], data: dict[str, RunData]) -> None:
    try:
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag
    except ImportError:
        raise RuntimeError("tracking kind 'mlflow' needs MLflow: pip install -e '.[tracking]'") from None
    from expobench.experiments.metrics import summarize
    from expobench.experiments.plots import plot_all

    client = MlflowClient(mlflow_uri(cfg, tracker))
    name = tracker.experiment or cfg.name
    found = client.get_experiment_by_name(name)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        artifacts = None if tracker.uri else (cfg.out / "mlartifacts").resolve().as_uri()
        experiment_id = client.create_experiment(name, artifact_location=artifacts)
    parent_key = f"mlflow_parent:{mlflow_uri(cfg, tracker)}:{name}"
    parent = store.get_meta(parent_key)
    if parent is None:
        parent = client.create_run(experiment_id, run_name=cfg.name,
                                   tags={"expobench.experiment": cfg.name}).info.run_id
        store.set_meta(parent_key, parent)
    for row in rows:
        run = data[row["run_id"]]
        child = client.create_run(experiment_id, run_name=row["run_id"], tags={
            "mlflow.parentRunId": parent, "expobench.experiment": cfg.name, "expobench.agent": row["agent"]})
        rid = child.info.run_id
        metrics = [Metric(k, float(v), 0, t) for k, curve in step_metrics(run, spec).items()
                   for t, v in enumerate(curve) if np.isfinite(v)]
        params = [Param(k, v) for k, v in _params(row).items()]
        client.log_batch(rid, params=params, tags=[RunTag("expobench.run_id", row["run_id"])])
        for start in range(0, len(metrics), 1000):  # MLflow's batch limit
            client.log_batch(rid, metrics=metrics[start:start + 1000])
        client.set_terminated(rid)
    for s in summarize(store):
        client.log_metric(parent, f"final_{s.metric}.{s.agent}", float(s.metric_mean))
    client.log_text(parent, json.dumps(cfg.model_dump(mode="json"), indent=2), "config.json")
    for path in plot_all(store):
        client.log_artifact(parent, str(path), "plots")


def _log_tensorboard(cfg: ExperimentConfig, tracker: TrackingConfig, spec: MetricSpec, rows: list[dict[str, Any]],
                     data: dict[str, RunData]) -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RuntimeError("tracking kind 'tensorboard' needs TensorBoard: pip install -e '.[tracking]'") from None
    root = tensorboard_dir(cfg, tracker)
    for row in rows:
        writer = SummaryWriter(log_dir=str(root / row["run_id"]))
        try:
            for key, curve in step_metrics(data[row["run_id"]], spec).items():
                for t, v in enumerate(curve):
                    if np.isfinite(v):
                        writer.add_scalar(key, float(v), t)
            writer.add_text("params", json.dumps(_params(row), indent=1))
        finally:
            writer.close()
