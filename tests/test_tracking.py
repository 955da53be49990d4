"""Trackers: MLflow's local store and TensorBoard's event files receive params, per-step metrics and plots, read
back with their own readers; a re-run logs nothing twice."""

import pytest

import expobench

pytest.importorskip("mlflow")


def _config(out, seeds=(0, 1)):
    return {"name": "tracked", "env": {"id": "expobench/BO-Branin-v0"}, "horizon": 12, "seeds": list(seeds),
            "agents": [{"name": "rs", "kind": "random_search"}, {"name": "sobol", "kind": "sobol"}],
            "out": str(out), "tracking": [{"kind": "mlflow"}, {"kind": "tensorboard"}]}


def test_mlflow_and_tensorboard_receive_every_run_once(tmp_path):
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "out"
    exp = expobench.run(_config(out))
    steps = exp.steps()
    client = MlflowClient(f"sqlite:///{out.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    children = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert set(children) == set(steps.run_id)
    rid = "BO-Branin-v0__sobol__1"
    child = children[rid]
    assert child.data.params["kind"] == "sobol" and child.data.params["seed"] == "1"
    history = client.get_metric_history(child.info.run_id, "simple_regret")
    assert [m.step for m in history] == list(range(13))  # per evaluation: step 0 is the initial design
    regret = client.get_metric_history(child.info.run_id, "regret")
    mine = steps[steps.run_id == rid].sort_values("t").regret.to_numpy()
    assert [m.value for m in sorted(regret, key=lambda m: m.step)] == pytest.approx(list(mine))
    artifacts = [a.path for a in client.list_artifacts(parent.info.run_id, "plots")]
    assert any(p.endswith(".png") for p in artifacts)
    assert {"final_simple_regret.rs", "final_simple_regret.sobol"} <= set(parent.data.metrics)

    events = EventAccumulator(str(out / "tensorboard" / rid))
    events.Reload()
    scalars = events.Scalars("cumulative_regret")
    assert [s.step for s in scalars] == list(range(12))
    assert scalars[-1].value == pytest.approx(float(mine.sum()), rel=1e-5)

    expobench.run(_config(out, seeds=(0, 1, 2)))  # a new seed: only its runs are logged
    runs = client.search_runs([experiment.experiment_id])
    names = [r.info.run_name for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(names) == len(set(names)) == 6
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1
