"""GPO scored fairly (METHODS §5): off-line evaluation on frozen agent states, the step-best acting, steps
decoupled from iterations, the optimiser prompt's content, lenient markers, EXPO-GPO's parameters, probes that
leave the agent untouched, state round-trip."""

import copy
import json
import zlib

import numpy as np
import pytest

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.agents.llm.scripted import POLICIES, register_policy
from expobench.agents.llm.types import Completion
from expobench.agents.registry import make_agent
from expobench.experiments.config import parse_config
from expobench.experiments.runner import make_env, run_experiment
from expobench.experiments.store import RunStore
from expobench.metaopt.baselines import parse_marked
from expobench.metaopt.embeddings import HashEmbedder
from expobench.metaopt.gpo import EXPOGPO, GPO, GPOParams
from expobench.metaopt.pools import CandidatePool
from expobench.metaopt.registry import make_optimizer
from tests.test_metaopt import drive

BASE = MetaPrompt("task description zero", "instruction zero")

if "gpo_test_marked" not in POLICIES:
    @register_policy("gpo_test_marked")
    def _marked(request, i, args):
        """Scripted optimiser replies that depend on the request alone (a replayed or resumed run gets the same);
        one request in eight gets a reply without markers."""
        h = zlib.crc32(f"{request.digest()}:{i}".encode())
        if h % 8 == 0:
            return "I cannot improve it."
        return f"<START>Pick the button with the best average reward, variant {h % 5}.<END>"


class PositionLLM:
    """Fake optimiser LLM: the j-th reply of a batch is the distinct candidate ``cand <call>-<j>``, so the
    request position of every candidate can be read off its text."""

    def __init__(self, failing=()):
        self.calls, self.requests, self.failing = 0, [], set(failing)

    def generate(self, reqs):
        self.calls += 1
        self.requests += reqs
        return [[Completion("no markers" if j in self.failing else f"<START>cand {self.calls}-{j}<END>")]
                for j in range(len(reqs))]


class SeedLLM:
    """Fake optimiser LLM whose reply depends on the request alone (for replays and round-trips)."""

    def generate(self, reqs):
        return [[Completion(f"<START>cand {r.seed}<END>")] for r in reqs]


def constant_score(value_at):
    """``ctx.score`` of a task where prompts have no effect: the score of a state depends only on its time."""
    def make(t):
        def score(mp, lag):
            return value_at(t - lag, mp)
            yield  # a generator that asks no LLM
        return score
    return make


def gpo_ctx(t, score=None, horizon=100, definition="the test's score"):
    return ProposalContext(t=t, exemplar_candidates=[f"history {t}"], horizon=horizon,
                           recent_text=f"Round {t}: pressed red, reward 1", score=score,
                           score_definition=definition)


def simulate(scoring, seed, horizon=100, noise=0.0):
    """A run where prompts have no effect and the score rises slowly with t: the positions of the winners."""
    rng = np.random.default_rng(1000 + seed)
    params = GPOParams(scoring=scoring) if scoring == "segment" else GPOParams()
    opt = GPO(BASE, params, embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(seed))
    llm = PositionLLM()

    def value_at(t, mp):  # a prompt-independent score; its noise is keyed by the text, never by position
        jitter = noise * (zlib.crc32(f"{seed}/{mp.instruction}/{t}".encode()) % 1000) / 1000
        return 0.01 * t + jitter

    make_score = constant_score(value_at)
    for t in range(horizon):
        drive(opt.propose_steps(gpo_ctx(t, make_score(t), horizon)), llm)
        opt.update(0.01 * t + rng.normal(0, 0.002), {})
    return [int(p.split("-")[1]) for p, _ in opt.trajectory["instruction"] if p.startswith("cand ")]


def spread(counts):
    counts = np.asarray(counts, dtype=float)
    n, k = counts.sum(), len(counts)
    return n / k, np.sqrt(n * (1 / k) * (1 - 1 / k))


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_no_effect_prompts_give_a_uniform_winner_offline_and_late_winners_by_segment(noise):
    """The product owner's criterion: with prompts that have no effect, the chosen candidate's position is
    uniform (no position above its share plus noise); segment scoring in the same simulation favours the last."""
    offline = [p for s in range(40) for p in simulate("offline", s, noise=noise)]
    counts = np.bincount(offline, minlength=8)
    expected, sd = spread(counts)
    assert len(offline) == 40 * 19
    assert counts.max() <= expected + 4 * sd and counts.min() >= expected - 4 * sd, counts

    segment = [p for s in range(40) for p in simulate("segment", s, noise=noise)]
    seg_counts = np.bincount(segment, minlength=8)
    seg_expected, seg_sd = spread(seg_counts)
    assert seg_counts[7] > seg_expected + 4 * seg_sd, seg_counts  # the confound: the last segment wins
    assert seg_counts[7] / seg_counts.sum() > 0.8


def test_step_best_acts_after_its_selection_and_100_iterations_have_19_steps():
    llm = PositionLLM()
    opt = GPO(BASE, GPOParams(), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(0))
    # candidate 3 of each batch is better on every dev state
    make_score = constant_score(lambda t, mp: t * 0.01 + (1.0 if mp.instruction.endswith("-3") else 0.0))
    used, steps = [], []
    for t in range(100):
        mp = drive(opt.propose_steps(gpo_ctx(t, make_score(t))), llm)
        used.append(mp.instruction)
        rec = opt.record()
        if "gpo" in rec:
            steps.append((t, rec["gpo"]))
        opt.update(0.5, {})
    assert [t for t, _ in steps] == list(range(5, 100, 5)) and opt.step == 19 == opt.total_steps(100)
    assert used[:5] == [BASE.instruction] * 5
    for t, info in steps:
        assert info["chosen"] == 3 and info["candidates"] == 8 and info["failed"] == 0
        winner = used[t]
        assert winner.endswith("-3") and used[t:t + 5] == [winner] * 5  # it acts until the next step
    assert steps[0][1]["lags"] == [0] and steps[1][1]["lags"] == [0, 5] and steps[5][1]["lags"] == [0, 5, 10]
    budgets = [info["budget"] for _, info in steps]
    assert budgets[0] == 50 and budgets == sorted(budgets, reverse=True) and budgets[-1] < 15


def test_lenient_markers_and_failures_per_step():
    assert parse_marked("<START>keep this, cut off", lenient=True) == "keep this, cut off"
    assert parse_marked("<START>keep this, cut off") is None
    assert parse_marked("<START>a<END> then <START>b", lenient=True) == "b"
    assert parse_marked("<START>a<END>", lenient=True) == "a"
    assert parse_marked("no markers at all", lenient=True) is None and parse_marked("<START> ", lenient=True) is None

    class Flaky(PositionLLM):
        def generate(self, reqs):
            out = super().generate(reqs)
            if self.calls == 1:  # the first step: two replies without markers, one cut off before <END>
                out[0] = out[1] = [Completion("sorry")]
                out[2] = [Completion("<START>cut off instruction")]
            return out

    opt = GPO(BASE, GPOParams(every=2), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(0))
    make_score = constant_score(lambda t, mp: 0.0)
    llm, infos = Flaky(), []
    for t in range(5):
        drive(opt.propose_steps(gpo_ctx(t, make_score(t))), llm)
        infos.append(opt.record())
        opt.update(0.0, {})
    assert infos[2]["gpo"]["failed"] == 2 and infos[2]["gpo"]["candidates"] == 6
    assert infos[4]["gpo"]["failed"] == 0 and infos[4]["failures"] == 2  # per step, and the running total
    assert infos[2]["gpo"]["positions"] == [2, 3, 4, 5, 6, 7]  # position 2: the reply cut off before <END>


def test_optimiser_prompt_shows_other_component_score_definition_and_recent():
    llm = PositionLLM()
    opt = GPO(BASE, GPOParams(every=2, component="both", max_tokens=512), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(0))
    make_score = constant_score(lambda t, mp: 0.1)
    for t in range(5):
        drive(opt.propose_steps(gpo_ctx(t, make_score(t), definition="THE-SCORE-DEFINITION")), llm)
        opt.update(0.1, {})
    first, second = llm.requests[0], llm.requests[8]
    text = first.messages[-1].content
    assert first.max_tokens == 512 and first.role == "optimizer"
    assert "You improve the instruction" in text and f"<FIXED>{BASE.description}</FIXED>" in text
    assert "THE-SCORE-DEFINITION" in text and "Round 2: pressed red" in text
    assert "(score 0.100)" in text  # the starting instruction, scored on the dev set before the update
    other = second.messages[-1].content
    assert "You improve the task description" in other
    assert f"<FIXED>{opt.trajectory['instruction'][-1][0]}</FIXED>" in other  # the instruction chosen at step 1


def test_offline_scoring_needs_an_agent_that_scores():
    opt = GPO(BASE, GPOParams(), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(0))
    for t in range(5):
        drive(opt.propose_steps(gpo_ctx(t)), PositionLLM())
        opt.update(0.0, {})
    with pytest.raises(ValueError, match="scoring: segment"):
        drive(opt.propose_steps(gpo_ctx(5)), PositionLLM())


def test_fields_of_the_other_scoring_are_rejected():
    with pytest.raises(ValueError, match="segment"):
        GPOParams(segment=3)
    with pytest.raises(ValueError, match="every"):
        GPOParams(scoring="segment", every=3)
    assert GPOParams(scoring="segment", segment=3).segment == 3


def pool():
    return CandidatePool([BASE.description, "task description one"], [BASE.instruction, "instruction one"])


@pytest.mark.parametrize("params, field", [({"segment": 3}, "segment"), ({"scoring": "offline"}, "scoring"),
                                           ({"dev_states": 1}, "dev_states"),
                                           ({"component": "description", "optimize": "instruction"}, "component")])
def test_expo_gpo_rejects_what_it_would_ignore(params, field):
    with pytest.raises(ValueError, match=field):
        make_optimizer("expo_gpo", BASE, {"steps": 2, **params}, pool=pool(), embedder=HashEmbedder(16))


def test_expo_gpo_both_alternates_and_reflection_is_asked():
    opt = make_optimizer("expo_gpo", BASE, {"steps": 2, "every": 2, "component": "both", "reflection": True},
                         pool=pool(), embedder=HashEmbedder(16))
    assert isinstance(opt, EXPOGPO)
    opt.reset(np.random.default_rng(0))
    llm = PositionLLM()
    comps = []
    for t in range(7):
        drive(opt.propose_steps(gpo_ctx(t)), llm)
        rec = opt.record()
        if "gpo" in rec:
            comps.append(rec["gpo"]["component"])
        opt.update(0.3, {})
    assert comps == ["instruction", "description", "instruction"]
    assert len(opt.pool.instructions) == 2 + 8 + 8 and len(opt.pool.descriptions) == 2 + 8
    # each step: one reflection (temperature 0), then the candidates, whose prompt carries the reflection
    reflect, cand = llm.requests[0], llm.requests[1]
    assert reflect.temperature == 0.0 and "what went wrong" in reflect.messages[-1].content
    assert "An analysis of what went wrong:\n<START>cand 1-0<END>" in cand.messages[-1].content
    assert "You improve the task description" in llm.requests[10].messages[-1].content


def play(opt, ts, llm, make_score):
    out = []
    for t in ts:
        mp = drive(opt.propose_steps(gpo_ctx(t, make_score(t), horizon=40)), llm)
        out.append((mp.description, mp.instruction, json.dumps(opt.record(), sort_keys=True)))
        opt.update(float(np.cos(t)), {})
    return out


@pytest.mark.parametrize("params", [{}, {"scoring": "segment", "segment": 2, "n_candidates": 3},
                                    {"component": "both", "every": 3, "dev_states": 1}])
def test_gpo_state_round_trips_through_json(params):
    make_score = constant_score(lambda t, mp: (zlib.crc32(f"{mp.instruction}{mp.description}{t}".encode()) % 97) / 97)

    def make():
        opt = GPO(BASE, GPOParams(**params), embedder=HashEmbedder(16))
        opt.reset(np.random.default_rng(7))
        return opt

    straight = play(make(), range(30), SeedLLM(), make_score)
    first = make()
    head = play(first, range(13), SeedLLM(), make_score)
    state = json.loads(json.dumps(first.state_dict()))
    second = make()
    second.load_state_dict(state)
    assert head + play(second, range(13, 30), SeedLLM(), make_score) == straight
    assert len({i for _, i, _ in straight}) > 1  # the run did change its prompt


# -- agents: probes ------------------------------------------------------------------------------------------


def agent_after(kind, env_id, params, steps, llm):
    env = make_env(env_id, {})
    obs, _ = env.reset(seed=0)
    agent = make_agent(kind, params)
    agent.horizon = 30
    agent.reset(env.unwrapped, np.random.default_rng(0))
    for _ in range(steps):
        decision = drive(agent.decide(obs), llm)
        obs, reward, *_, info = env.step(decision.action)
        agent.observe(decision.action, float(reward), info)
    return agent


def snapshot(agent):
    keep = {k: copy.deepcopy(v) for k, v in vars(agent).items() if k not in ("env", "rng", "task", "llm")}
    return keep, json.dumps(agent.rng.bit_generator.state)


def test_bandit_probe_scores_an_earlier_state_and_leaves_the_agent_untouched(scripted_llm):
    llm = scripted_llm(policy="bandit_best_mean")
    agent = agent_after("llm_bandit", "expobench/MAB-hard-v0", {"design": "BSSND"}, 12, llm)
    before = snapshot(agent)
    mp = agent.proposal_context().heuristic_prompt(agent.start_meta_prompt())
    asked = scripted_llm(policy="bandit_best_mean")
    scores = {lag: drive(agent.score_prompt(mp, lag), asked) for lag in (0, 4, 12)}
    assert snapshot(agent) == before
    questions = [r.messages[-1].content for r in asked.requests]
    assert "Round 13 of 30" in questions[0] and "Round 9 of 30" in questions[1] and "Round 1 of 30" in questions[2]
    assert "Summary of the 8 rounds" in questions[1]  # the exemplars re-rendered for the earlier state
    assert scores[12] == 0.0 and 0.0 < scores[0] <= 1.0  # at round 1 nothing is known yet
    recent = agent.proposal_context().recent
    assert "Round 12:" in recent and "Round 3:" in recent and "Round 2:" not in recent


def test_opro_probe_asks_one_proposal_and_leaves_the_records_untouched(scripted_llm):
    llm = scripted_llm(["[1.5, 2]", "[3, 4]", "[0.5, 1]"])
    agent = agent_after("llm_opro", "expobench/LinReg-w2-b30-v0", {"n_proposals": 3}, 4, llm)
    before = snapshot(agent)
    n_records = len(agent.records)
    mp = agent.proposal_context().heuristic_prompt(agent.start_meta_prompt())
    asked = scripted_llm(["[2, 30]"])
    score = drive(agent.score_prompt(mp, 2), asked)
    assert snapshot(agent) == before and len(agent.records) == n_records
    assert len(asked.requests) == 1 and asked.requests[0].temperature == 0.0
    assert agent.state_marks == [5, 8, 11, 14, 17] and 0.0 <= score <= 1.0
    assert "Round 4 (3 valid proposals)" in agent.recent_interactions()


def test_gpo_through_the_runner_acts_records_and_resumes_identically(tmp_path):
    agents = [{"name": "g", "kind": "llm_bandit", "params": {"design": "BSSND"},
               "optimizer": {"kind": "gpo", "params": {"every": 3, "n_candidates": 4},
                             "llm": {"backend": "scripted", "policy": "gpo_test_marked"}}}]

    def cfg(out, width=2):
        return parse_config({"name": "g", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 12, "seeds": [0, 1],
                             "agents": agents, "out": str(out), "batch_width": width, "cache": {"enabled": False},
                             "llm": {"backend": "scripted", "policy": "bandit_best_mean"}})

    def rows(out):
        with RunStore(out, create=False) as store:
            return [[(s.t, s.action, s.reward, {k: v for k, v in s.record.items() if k != "latency_s"})
                     for s in store.steps(r["run_id"])] for r in store.runs()]

    run_experiment(cfg(tmp_path / "a"), progress=False).close()
    full = rows(tmp_path / "a")
    for steps in full:
        infos = {t: rec["optimizer"]["gpo"] for t, _, _, rec in steps if "gpo" in rec["optimizer"]}
        assert sorted(infos) == [3, 6, 9]
        for t, info in infos.items():
            assert info["candidates"] + info["failed"] <= 4
            if info["chosen"] is not None:  # the chosen candidate acts from this iteration until the next step
                di = [rec["di_hash"] for _, _, _, rec in steps]
                assert di[t] != di[t - 1] and di[t] == di[t + 1] == di[t + 2]

    class Stop(Exception):
        pass

    def stop_at(run_id, t):
        if t == 7:
            raise Stop

    with pytest.raises(Stop):
        run_experiment(cfg(tmp_path / "b", width=1), progress=False, on_step=stop_at)
    run_experiment(cfg(tmp_path / "b", width=1), progress=False).close()
    assert rows(tmp_path / "b") == full
