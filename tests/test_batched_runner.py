"""The runner's batched path for classical bandit agents (array operations across lockstep runs) stores exactly
what the one-by-one path stores, for every bandit agent kind and bandit env family, also across a resume."""

import pytest

from expobench.agents.bandit import BanditAgent
from expobench.agents.registry import AGENTS
from expobench.experiments import runner
from expobench.experiments.config import parse_config
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore

BANDIT_KINDS = sorted(k for k, cls in AGENTS.items() if issubclass(cls, BanditAgent))
ENVS = ["expobench/MAB-hard-v0", "expobench/MAB-gaussian-v0", "expobench/MAB-hard-changepoint-v0",
        "expobench/MAB-hard-drift-v0"]


def _rows(out):
    with RunStore(out, create=False) as store:
        runs = store.runs()
        return ([(r["run_id"], r["steps_done"], r["status"]) for r in runs],
                [(s.run_id, s.t, s.action, s.reward, s.expected_reward, s.optimal_expected_reward, s.optimal_action,
                  s.record) for r in runs for s in store.steps(r["run_id"])])


def _config(out, env, horizon=60):
    return parse_config({"name": "b", "env": {"id": env}, "horizon": horizon, "seeds": [0, 1, 2, 3], "out": str(out),
                         "agents": [{"name": k, "kind": k} for k in BANDIT_KINDS]})


@pytest.mark.parametrize("env", ENVS)
def test_batched_path_stores_what_the_one_by_one_path_stores(env, tmp_path, monkeypatch):
    assert {"ucb", "thompson", "exp3", "sw_ucb", "discounted_thompson"} <= set(BANDIT_KINDS)
    kinds = set()
    real = runner._step_batched
    monkeypatch.setattr(runner, "_step_batched", lambda cls, *a: kinds.add(cls.kind) or real(cls, *a))
    run_experiment(_config(tmp_path / "batched", env), progress=False).close()
    assert kinds == set(BANDIT_KINDS)  # every kind took the batched path
    monkeypatch.setattr(runner, "BATCHED", False)
    run_experiment(_config(tmp_path / "single", env), progress=False).close()
    assert _rows(tmp_path / "batched") == _rows(tmp_path / "single")


def test_batched_path_is_taken_and_resumes_exactly(tmp_path, monkeypatch):
    taken = []
    real = runner._step_batched
    monkeypatch.setattr(runner, "_step_batched", lambda *a: taken.append(1) or real(*a))

    class Stop(Exception):
        pass

    def stop(run_id, t):
        if t == 37:
            raise Stop

    cfg = _config(tmp_path / "resumed", "expobench/MAB-hard-v0")
    with pytest.raises(Stop):
        run_experiment(cfg, progress=False, on_step=stop)
    run_experiment(cfg, progress=False).close()
    assert taken  # the batched path ran
    run_experiment(_config(tmp_path / "whole", "expobench/MAB-hard-v0"), progress=False).close()
    assert _rows(tmp_path / "resumed") == _rows(tmp_path / "whole")
