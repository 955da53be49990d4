"""OPRO tasks: exact TSP optimum, LR optimum, parsers, the OPRO agent end to end with the scripted backend."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expobench.envs.linreg import LinearRegressionEnv
from expobench.envs.opro_text import LinRegTask, TSPTask
from expobench.envs.tsp import TSPEnv, brute_force, held_karp, instance, tour_length
from expobench.experiments.config import parse_config
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore


@pytest.mark.parametrize("n", [4, 5, 6, 7, 8])
def test_held_karp_equals_brute_force(n):
    for seed in range(3):
        c = instance(n, seed)
        d = np.linalg.norm(c[:, None] - c[None], axis=-1)
        length, tour = held_karp(d)
        assert length == pytest.approx(brute_force(d))
        assert sorted(tour) == list(range(n)) and tour_length(d, tour) == pytest.approx(length)


def test_linreg_optimum_is_least_squares():
    env = LinearRegressionEnv(w_true=36, b_true=-1, sigma=1.0)
    w, b = np.polyfit(env.x, env.y, 1)
    assert env.optimal_loss == pytest.approx(env.loss(w, b))
    assert env.loss(w + 0.1, b) > env.optimal_loss


def test_tsp_invalid_tour_is_flagged():
    env = TSPEnv(n=10)
    env.reset(seed=0)
    _, r, _, _, info = env.step([0] * 10)
    assert not info["valid"] and r == -env.invalid_penalty
    _, r, _, _, info = env.step(env.optimal_tour)
    assert info["valid"] and r == pytest.approx(-env.optimal_length)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_task_parsers_never_raise(text):
    for task in (LinRegTask(LinearRegressionEnv()), TSPTask(TSPEnv(n=10))):
        sol, err = task.parse(text)
        assert (sol is None) != (err is None)


def test_parsers_validate():
    lr, tsp = LinRegTask(LinearRegressionEnv()), TSPTask(TSPEnv(n=5))
    assert lr.parse("I think [3, 29.5]") == ((3.0, 29.5), None)
    assert lr.parse("[1e9, 2]")[0] is None
    assert tsp.parse("<trace>2,3,4,0,1</trace>") == ([0, 1, 2, 3, 4], None)
    assert tsp.parse("<trace>0,1,2,3</trace>")[0] is None
    assert tsp.parse("<trace>0,1,1,3,4</trace>")[0] is None


def test_opro_agent_end_to_end_with_scripted_backend(tmp_path):
    llm = {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": ["[2, 30]", "junk", "[5, 25]"]}}
    cfg = parse_config({"name": "lr", "env": {"id": "expobench/LinReg-w2-b30-v0"}, "horizon": 3, "seeds": [0],
                        "agents": [{"name": "opro", "kind": "llm_opro", "params": {"n_proposals": 3}}],
                        "llm": llm, "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        steps = store.steps("LinReg-w2-b30-v0__opro__0")
    assert steps[0].action == [2.0, 30.0]
    rec = steps[0].record
    assert rec["valid_proposals"] == 2 and len(rec["errors"]) == 1 and 0 < rec["prompt_score"] <= 1
