"""10,000 generated outputs per action grammar: zero exceptions, every result a valid action or a failure."""

import json

import numpy as np
import pytest

from expobench.envs import bandit_text as bt
from expobench.envs.blackbox import BlackBoxEnv
from expobench.envs.linreg import LinearRegressionEnv
from expobench.envs.opro_text import LinRegTask, PointTask, TSPTask
from expobench.envs.tsp import TSPEnv
from tests.fuzzing import fuzz_texts

N = 10_000


@pytest.mark.parametrize("code", ["BNSN0", "ANSN0"])
def test_fuzz_bandit_choice(code):
    d = bt.Design(code)
    names = bt.arm_names(d.scenario, 5)
    ok = fail = 0
    for text in fuzz_texts(names + [f"I choose {n}" for n in names], N, seed=1):
        r = bt.parse_answer(text, d, 5)
        if r.ok:
            assert sorted(r.probs) == [0, 0, 0, 0, 1]
            ok += 1
        else:
            assert isinstance(r.error, str) and r.error
            fail += 1
    assert ok + fail == N and ok > 0 and fail > 0


def test_fuzz_bandit_distribution():
    d = bt.Design("BSSND")
    valid = ["blue:0.2,green:0.2,red:0.2,yellow:0.2,purple:0.2", "blue:1.00,green:0,red:0,yellow:0,purple:0",
             "blue:0.05,green:0.9,red:0.05,yellow:0,purple:0"]
    ok = 0
    for text in fuzz_texts(valid, N, seed=2):
        r = bt.parse_answer(text, d, 5)
        assert (r.probs is None) != (r.error is None)
        if r.ok:
            p = np.asarray(r.probs)
            assert p.shape == (5,) and (p >= 0).all() and abs(p.sum() - 1) < 1e-9
            ok += 1
    assert 0 < ok < N


def _fuzz_task(task, valid, seed, check):
    """Every fuzzed text parses to a solution that passes ``check`` or fails with a message; never raises."""
    ok = 0
    for text in fuzz_texts(valid, N, seed=seed):
        sol, err = task.parse(text)
        assert (sol is None) != (err is None)
        if sol is None:
            assert isinstance(err, str) and err
        else:
            check(sol)
            ok += 1
    assert 0 < ok < N


def test_fuzz_linreg_pair():
    task = LinRegTask(LinearRegressionEnv())
    bound = task.env.action_space.high[0]

    def check(sol):
        assert len(sol) == 2 and all(np.isfinite(v) and abs(v) <= bound for v in sol)

    _fuzz_task(task, ["[2, 30]", "[17.5, -3.25]", "w and b: [36, -1]"], seed=3, check=check)


def test_fuzz_tsp_trace():
    task = TSPTask(TSPEnv(n=10))

    def check(sol):
        assert sol[0] == 0 and sorted(sol) == list(range(10))

    valid = ["<trace>0,1,2,3,4,5,6,7,8,9</trace>", "<trace>0,9,8,7,6,5,4,3,2,1</trace>",
             "<trace>3,1,0,2,4,9,8,7,6,5</trace>"]
    _fuzz_task(task, valid, seed=4, check=check)


def test_fuzz_json_point():
    task = PointTask(BlackBoxEnv("hartmann"))
    valid = [json.dumps(task.to_dict(p)) for p in task.env.warm_start]
    def check(sol):
        assert task.space.check(np.asarray(sol)) is None

    _fuzz_task(task, valid, seed=5, check=check)


def test_fuzz_json_hyperparameters():
    from expobench.envs.hpo import HPOEnv
    from expobench.envs.opro_text import HPOTask

    task = HPOTask(HPOEnv("digits", "mlp_sgd"))
    valid = [json.dumps(task.to_dict(p)) for p in task.env.warm_start]

    def check(sol):
        assert task.space.check(np.asarray(sol)) is None

    _fuzz_task(task, valid, seed=6, check=check)


@pytest.mark.parametrize("env_id", ["expobench/FrozenLake4x4-v0", "expobench/Taxi-v0"])
def test_fuzz_mdp_action(env_id):
    import gymnasium as gym

    from expobench.envs import mdp_text as mt

    names = gym.make(env_id).unwrapped.action_names
    ok = 0
    for text in fuzz_texts(list(names) + [f"I take {n}." for n in names], N, seed=7):
        r = mt.parse_action(text, names)
        assert (r.action is None) != (r.error is None)
        if r.ok:
            assert 0 <= r.action < len(names) and names[r.action] in text.lower()
            ok += 1
        else:
            assert isinstance(r.error, str) and r.error
    assert 0 < ok < N
