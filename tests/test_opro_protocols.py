"""The two protocols of OPRO's linear regression and TSP (METHODS §4.2-4.3): `expo` (default) and `opro`.

Pins each protocol's definition (data, loss, warm start, integer snapping, prompt content, sampling, termination),
per-seed instances (shared by the agents of one seed, different across seeds, one instance when declared), and the
done-criterion of `protocol: opro` linear regression: on OPRO's data the integer pair with the lowest loss is the
ground truth."""

import re
from collections import Counter

import numpy as np
import pytest

from expobench.agents.llm.types import Completion
from expobench.agents.registry import make_agent
from expobench.envs.linreg import GROUND_TRUTHS, LinearRegressionEnv
from expobench.envs.opro_text import LinRegTask, TSPTask
from expobench.envs.tsp import TSPEnv, held_karp, tour_length
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import load_runs
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))  # TSP optima


def _agent(env, params=None, seed=0):
    agent = make_agent("llm_opro", params or {})
    agent.reset(env, np.random.default_rng(seed))
    return agent


def _step(agent, texts):
    """One decision of ``agent`` answered from ``texts`` in turn; returns (decision, the request rounds)."""
    texts = iter(texts)
    gen = agent.decide(0)
    rounds = []
    reqs = next(gen)
    while True:
        rounds.append(reqs)
        answers = [[Completion(next(texts), 1, 1, "stop", 0.0)] for _ in reqs]
        try:
            reqs = gen.send(answers)
        except StopIteration as stop:
            return stop.value, rounds


# -- protocol field ---------------------------------------------------------------------------------------------
def test_unknown_protocol_is_refused_with_the_allowed_values():
    for make in (lambda: LinearRegressionEnv(protocol="paper"), lambda: TSPEnv(n=5, protocol="paper")):
        with pytest.raises(ValueError, match=r"protocol: unknown 'paper'; allowed: expo, opro"):
            make()
    with pytest.raises(ValueError, match="decimals"):
        TSPEnv(n=5, protocol="opro", decimals=1)


# -- linear regression ------------------------------------------------------------------------------------------
def test_linreg_expo_data_and_mse():
    env = LinearRegressionEnv(w_true=2, b_true=30)
    env.reset(seed=4)
    assert env.x.shape == (50,) and -1 <= env.x.min() < -0.8 and 0.8 < env.x.max() <= 1
    assert not np.allclose(env.x, np.sort(env.x))  # drawn, not a grid
    w, b = 3.0, 28.0
    assert env.loss(w, b) == pytest.approx(np.mean((env.y - w * env.x - b) ** 2))
    assert env.metadata["expobench.metric"] == "best_loss"
    _, r, term, _, info = env.step([2, 30])
    assert not term and info["found"] and r == -info["loss"]  # expo never ends the run


def test_linreg_opro_data_sse_and_metric():
    env = LinearRegressionEnv(w_true=15, b_true=14, protocol="opro")
    env.reset(seed=4)
    assert np.array_equal(env.x, np.arange(1, 51, dtype=float))
    noise = env.y - (15 * env.x + 14)
    assert abs(noise.mean()) < 0.5 and 0.6 < noise.std() < 1.4  # N(0, 1)
    assert env.loss(16, 13) == pytest.approx(np.sum((env.y - 16 * env.x - 13) ** 2))
    assert env.loss(16, 13) > 1000 * env.loss(15, 14) / 50  # a sum, not a mean
    assert env.metadata["expobench.metric"] == "steps_to_truth"
    assert LinearRegressionEnv.metadata["expobench.metric"] == "best_loss"  # per instance, not the class


@pytest.mark.parametrize("w_true, b_true", GROUND_TRUTHS)
def test_opro_linreg_integer_optimum_is_the_ground_truth(w_true, b_true):
    """The done-criterion: for each of OPRO's ground truths and several noise draws, the integer pair with the
    lowest loss over a wide neighbourhood is (w*, b*), so "finding the truth" is well defined."""
    ws = np.arange(w_true - 40, w_true + 41, dtype=float)
    bs = np.arange(b_true - 150, b_true + 151, dtype=float)
    env = LinearRegressionEnv(w_true=w_true, b_true=b_true, protocol="opro")
    for seed in range(8):
        env.reset(seed=seed)
        pred = ws[:, None, None] * env.x + bs[None, :, None]  # [W, B, n]
        loss = ((env.y - pred) ** 2).sum(-1)
        i, j = np.unravel_index(np.argmin(loss), loss.shape)
        assert (ws[i], bs[j]) == (w_true, b_true)
        assert loss[i, j] == pytest.approx(env.loss(w_true, b_true))


def test_linreg_expo_least_squares_fit_is_not_the_truth():
    """The EXPO paper's data (x in [-1, 1]): with sigma = 1 the fit of (2, 30) is about (2.26, 30.02) on the instance
    of seed 0 (METHODS §4.2), so under expo the headline is the loss, not finding the truth."""
    env = LinearRegressionEnv(w_true=2, b_true=30)
    env.reset(seed=0)
    assert (round(env.w_opt, 2), round(env.b_opt, 2)) == (2.26, 30.02)
    assert -env.step([env.w_opt, env.b_opt])[1] == pytest.approx(env.optimal_loss)
    assert env.optimal_loss < env.loss(2, 30)


def test_linreg_opro_terminates_only_on_the_truth():
    env = LinearRegressionEnv(w_true=3, b_true=5, protocol="opro")
    env.reset(seed=1)
    for action in ([3, 6], [3.0000001, 5], [2, 5]):
        _, _, term, _, info = env.step(action)
        assert not term and not info["found"]
    _, r, term, _, info = env.step([3, 5])
    assert term and info["found"] and r == -env.loss(3, 5)


def test_linreg_noise_and_warm_start_do_not_depend_on_the_ground_truth():
    for protocol in ("expo", "opro"):
        a = LinearRegressionEnv(w_true=2, b_true=30, protocol=protocol)
        b = LinearRegressionEnv(w_true=36, b_true=-1, protocol=protocol)
        for seed in (3, 11):
            a.reset(seed=seed)
            b.reset(seed=seed)
            assert np.array_equal(a.x, b.x)
            assert np.allclose(a.y - 2 * a.x - 30, b.y - 36 * b.x + 1)
            assert a.warm_start == b.warm_start


def test_linreg_warm_start_distributions():
    counts = {"expo": Counter(), "opro": Counter()}
    short = 0
    for protocol in ("expo", "opro"):
        env = LinearRegressionEnv(protocol=protocol)
        for seed in range(400):
            env.reset(seed=seed)
            ws = env.warm_start
            assert all(float(v).is_integer() and 10 <= v <= 20 for p in ws for v in p)
            if protocol == "opro":
                assert len(set(ws)) == len(ws) and 1 <= len(ws) <= 5  # duplicates removed
                short += len(ws) < 5
            else:
                assert len(ws) == 5
            counts[protocol].update(v for p in ws for v in p)
    assert short > 0  # some opro warm starts lost a duplicate
    for protocol, ratio in (("expo", (0.8, 1.25)), ("opro", (0.35, 0.65))):
        c = counts[protocol]
        edge = (c[10] + c[20]) / 2
        inner = np.mean([c[v] for v in range(11, 20)])
        assert ratio[0] < edge / inner < ratio[1], (protocol, edge, inner)  # opro: round(U[10, 20]) halves the ends


def test_linreg_opro_snaps_proposals_to_integers():
    opro = LinRegTask(LinearRegressionEnv(protocol="opro"))
    expo = LinRegTask(LinearRegressionEnv())
    assert opro.parse("so [14.6, 13.5]") == ((15.0, 14.0), None)  # round half to even, as numpy rounds
    assert opro.parse("[w=3.4, b=-1.6]") == ((3.0, -2.0), None)
    assert expo.parse("so [14.6, 13.5]") == ((14.6, 13.5), None)


def test_linreg_opro_prompt_one_user_message_best_20_worst_first_truncated():
    env = LinearRegressionEnv(w_true=15, b_true=14, protocol="opro")
    env.reset(seed=2)
    agent = _agent(env)
    for w in range(5, 35):  # 30 more records
        agent.records.append(((float(w), 1.0), env.loss(w, 1)))
    msgs = agent.messages(agent.proposal_context().heuristic_prompt(agent.start_meta_prompt()))
    assert len(msgs) == 1 and msgs[0].role == "user"
    text = msgs[0].content
    assert text.startswith(agent.task.description(False)) and text.endswith(agent.task.instruction())
    shown = [(float(w), float(b), int(v)) for w, b, v in
             re.findall(r"input:\nw=(-?\d+), b=(-?\d+)\nvalue:\n(\d+)", text)]
    best = sorted(set(agent.records), key=lambda r: r[1])[:20]
    assert shown == [(s[0], s[1], int(v)) for s, v in best[::-1]]  # the best 20, worst first, values truncated
    assert any(v != round(v) for _, v in best)  # the values do have fractions to truncate


def test_temperatures_per_protocol():
    for protocol, temps in (("expo", [0.0] + [1.0] * 7), ("opro", [1.0] * 8)):
        env = LinearRegressionEnv(protocol=protocol)
        env.reset(seed=0)
        _, rounds = _step(_agent(env), ["[1, 2]"] * 8)
        assert len(rounds) == 1 and [r.temperature for r in rounds[0]] == temps
    env = LinearRegressionEnv(protocol="expo")
    env.reset(seed=0)
    msgs = _agent(env).messages(_agent(env).start_meta_prompt().with_exemplars("E"))
    assert [m.role for m in msgs] == ["system", "user"]


def test_linreg_opro_evaluates_a_pair_proposed_twice_in_a_step_once():
    env = LinearRegressionEnv(w_true=15, b_true=14, protocol="opro")
    env.reset(seed=0)
    agent = _agent(env)
    n0 = len(agent.records)
    decision, _ = _step(agent, ["[15.2, 14]", "[15, 14.4]", "[3, 4]", "junk", "[15, 14]", "[9, 9]", "x", "[3, 4]"])
    rec = decision.record
    assert rec["duplicates"] == 3 and rec["invalid_samples"] == 2 and rec["valid_proposals"] == 3
    assert sorted(rec["evaluated"]) == sorted(-env.loss(*p) for p in [(15, 14), (3, 4), (9, 9)])
    assert len(agent.records) == n0 + 3 and decision.action == [15.0, 14.0]


# -- TSP --------------------------------------------------------------------------------------------------------
def _shown_coords(task: TSPTask) -> np.ndarray:
    pts = re.findall(r"\((\d+)\): \((-?[\d.]+), (-?[\d.]+)\)", task.description(False))
    assert [int(i) for i, _, _ in pts] == list(range(task.env.n))
    return np.array([[float(x), float(y)] for _, x, y in pts])


@pytest.mark.parametrize("kwargs", [{}, {"decimals": 1}, {"protocol": "opro"}])
def test_tsp_prompt_shows_exactly_the_scored_coordinates(kwargs):
    env = TSPEnv(n=12, **kwargs)
    for seed in (0, 7):
        env.reset(seed=seed)
        task = TSPTask(env)
        assert np.array_equal(_shown_coords(task), env.coords)
        assert np.array_equal(env.dist, np.linalg.norm(env.coords[:, None] - env.coords[None], axis=-1))
        if kwargs.get("protocol") == "opro":
            assert np.all(env.coords == np.trunc(env.coords)) and np.abs(env.coords).max() < 100
        else:
            d = kwargs.get("decimals", 0)
            assert np.array_equal(env.coords, np.round(env.coords, d))
            assert not np.array_equal(env.coords, np.round(env.coords, d - 1)) if d else True


def test_tsp_opro_coordinates_are_truncated_not_rounded():
    draws = np.random.default_rng(3)
    raw = np.stack([draws.uniform(-100, 100, 10), draws.uniform(-100, 100, 10)], axis=1)
    env = TSPEnv(n=10, instance_seed=3, protocol="opro")
    assert np.array_equal(env.coords, np.trunc(raw))
    assert not np.array_equal(env.coords, np.round(raw))


def test_tsp_opro_prompt_best_10_worst_first_lengths_truncated():
    env = TSPEnv(n=8, protocol="opro")
    env.reset(seed=1)
    agent = _agent(env)
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = [0, *map(int, rng.permutation(np.arange(1, 8)))]
        agent.records.append((t, tour_length(env.dist, t)))
    (msg,) = agent.messages(agent.proposal_context().heuristic_prompt(agent.start_meta_prompt()))
    assert msg.role == "user" and msg.content.endswith(agent.task.instruction())
    shown = re.findall(r"<trace> ([\d,]+) </trace>\nlength:\n(\d+)", msg.content)
    best = sorted({repr(s): (s, v) for s, v in agent.records}.values(), key=lambda r: r[1])[:10][::-1]
    assert [(t, int(v)) for t, v in shown] == [(",".join(map(str, s)), int(v)) for s, v in best]
    assert any(v != round(v) for _, v in best)


def test_tsp_opro_resamples_until_enough_valid_tours():
    env = TSPEnv(n=5, protocol="opro")
    env.reset(seed=0)
    agent = _agent(env)
    good = ["<trace> 0,1,2,3,4 </trace>", "<trace>0,2,1,3,4</trace>", "<trace>0,4,3,2,1</trace>"]
    rotated = "<trace>1,2,3,4,0</trace>"  # a permutation, but OPRO requires the start at 0
    texts = [good[0], "junk", rotated, good[1], "<trace>0,1,1,3,4</trace>", good[2], "no", "x",  # 3 valid of 8
             good[0], "y", good[1], good[2], rotated,  # round 2 asks for the 5 missing: 3 valid
             good[0], good[1]]  # round 3 asks for the 2 missing
    decision, rounds = _step(agent, texts)
    assert [len(r) for r in rounds] == [8, 5, 2]
    assert all(req.temperature == 1.0 for r in rounds for req in r)
    rec = decision.record
    assert rec["valid_proposals"] == 8 and len(rec["evaluated"]) == 8 and rec["resample_rounds"] == 2
    assert rec["invalid_samples"] == 7 and rec["calls"] == 15
    assert any("does not start at 0" in e for e in rec["errors"])
    assert len({r.seed for rr in rounds for r in rr}) == 15  # every sample its own request seed


def test_tsp_opro_resampling_is_capped():
    env = TSPEnv(n=5, protocol="opro")
    env.reset(seed=0)
    decision, rounds = _step(_agent(env, {"max_resample_rounds": 2}), ["junk"] * 100)
    assert len(rounds) == 3 and decision.record["fallback"] and decision.record["evaluated"] == []
    assert decision.record["invalid_samples"] == 24
    env = TSPEnv(n=5)  # expo never re-samples
    env.reset(seed=0)
    _, rounds = _step(_agent(env), ["junk"] * 100)
    assert len(rounds) == 1


def test_tsp_optimum_refers_to_the_current_instance_and_opro_terminates_on_it():
    env = TSPEnv(n=8, protocol="opro")
    for seed in (0, 5):
        env.reset(seed=seed)
        best, tour = held_karp(env.dist)
        assert env.optimal_length == pytest.approx(best)
        _, r, term, _, info = env.step(env.warm_start[0])
        assert not term and not info["found"] and info["optimal_expected_reward"] == pytest.approx(-best)
        _, r, term, _, info = env.step(tour[::-1])  # the optimum, either direction
        assert term and info["found"] and r == pytest.approx(-best)
        assert all(tour_length(env.dist, t) > best + 1e-6 for t in env.warm_start)  # none optimal in opro
    expo = TSPEnv(n=8)
    expo.reset(seed=0)
    _, _, term, _, info = expo.step(expo.optimal_tour)
    assert info["found"] and not term


# -- instances and warm starts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda **k: LinearRegressionEnv(**k), lambda **k: TSPEnv(n=8, **k)],
                         ids=["linreg", "tsp"])
def test_each_seed_its_own_instance_unless_declared_shared(make):
    def data(env):
        return env.y.copy() if isinstance(env, LinearRegressionEnv) else env.coords.copy()

    env = make()
    before = data(env)  # __init__ leaves the instance of seed 0, usable before any reset
    env.step(env.warm_start[0])
    env.reset(seed=0)
    assert np.array_equal(data(env), before)
    env.reset(seed=1)
    one, warm_one = data(env), env.warm_start
    assert not np.array_equal(one, before)
    env.reset()  # no seed: keeps the instance
    assert np.array_equal(data(env), one)
    other = make()
    other.reset(seed=1)
    assert np.array_equal(data(other), one) and other.warm_start == warm_one
    shared = make(instance_seed=7)
    shared.reset(seed=0)
    a, warm_a = data(shared), shared.warm_start
    shared.reset(seed=1)
    assert np.array_equal(data(shared), a)  # one instance for every seed
    assert shared.warm_start != warm_a  # the warm start still follows the seed
    assert np.array_equal(data(make(instance_seed=7)), a)


def test_agent_warm_start_is_the_envs():
    env = TSPEnv(n=8)
    env.reset(seed=3)
    a, b = _agent(env, seed=1), _agent(env, seed=2)
    assert [s for s, _ in a.records] == [s for s, _ in b.records] == env.warm_start
    more = _agent(env, {"warm_start": 7})
    assert len(more.records) == 7 and [s for s, _ in more.records[:5]] == env.warm_start


@pytest.mark.parametrize("env_id, kwargs", [("expobench/TSP-10-v0", {}),
                                             ("expobench/LinReg-w15-b14-v0", {"protocol": "opro"})])
def test_agents_of_one_seed_share_instance_and_warm_start_through_the_runner(tmp_path, env_id, kwargs):
    agents = [{"name": "opro", "kind": "llm_opro", "params": {"n_proposals": 2}},
              {"name": "enhanced", "kind": "llm_opro", "params": {"n_proposals": 2, "enhanced": True}}]
    cfg = parse_config({"name": "i", "env": {"id": env_id, "kwargs": kwargs}, "horizon": 2, "seeds": [0, 1],
                        "agents": agents, "llm": {"backend": "scripted", "policy": "garbage"},
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        runs = load_runs(store)
    by_seed = {s: [r for rs in runs.values() for r in rs if r.seed == s] for s in (0, 1)}
    for rs in by_seed.values():
        assert len(rs) == 2 and len(rs[0].initial) >= 1
        assert np.array_equal(rs[0].initial, rs[1].initial)
        assert np.array_equal(rs[0].optimal, rs[1].optimal)
    assert not np.array_equal(by_seed[0][0].initial, by_seed[1][0].initial)
    assert by_seed[0][0].optimal[0] != by_seed[1][0].optimal[0]  # a different instance per seed


def test_opro_linreg_run_ends_when_the_truth_is_proposed(tmp_path):
    texts = ["[10, 10]", "[12, 3]", "[15.4, 13.6]"]  # the third snaps to the truth (15, 14)
    cfg = parse_config({"name": "t", "env": {"id": "expobench/LinReg-w15-b14-v0", "kwargs": {"protocol": "opro"}},
                        "horizon": 5, "seeds": [0],
                        "agents": [{"name": "opro", "kind": "llm_opro", "params": {"n_proposals": 1}}],
                        "llm": {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": texts}},
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        (run,) = load_runs(store)["opro"]
    assert len(run.records) == 3 and run.terminated
    assert [bool(r["info"]["found"]) for r in run.records] == [False, False, True]
    assert run.actions[-1] == [15.0, 14.0]


def test_opro_linreg_headline_metric_is_steps_to_truth_with_distinct_pairs(tmp_path):
    from expobench.experiments.metrics import METRICS, summarize

    texts = ["[10, 10]", "[12, 3]", "[10, 10]", "[15.4, 13.6]"]  # the truth is proposed at step 2 (of 2 samples)
    cfg = parse_config({"name": "t", "env": {"id": "expobench/LinReg-w15-b14-v0", "kwargs": {"protocol": "opro"}},
                        "horizon": 6, "seeds": [0],
                        "agents": [{"name": "opro", "kind": "llm_opro", "params": {"n_proposals": 2}}],
                        "llm": {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": texts}},
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        assert store.get_meta("metric") == "steps_to_truth"
        (run,) = load_runs(store)["opro"]
        (summary,) = summarize(store)
    spec = METRICS["steps_to_truth"]
    assert list(spec.curve(run, 6)) == [1, 2, 2, 2, 2, 2]  # held at the finding step up to the horizon
    assert summary.metric_mean == 2 and summary.diagnostics["found_rate"] == 1.0
    assert summary.diagnostics["distinct_tried"] == 3  # [10, 10], [12, 3], [15, 14]
