"""The MDP text task: renderings golden-filed (every env id, every design), the summary's contents, the action
parser, and the llm_mdp agent through the runner (scripted backend; the real SmolLM2 model through llama.cpp)."""

import json
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import expobench.envs  # noqa: F401
from expobench.agents.llm_mdp import LLMMDPAgent, LLMMDPParams
from expobench.envs import mdp_text as mt
from expobench.envs.mdp import MDP_IDS
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import load_runs
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore

GOLDEN = Path(__file__).parent / "golden" / "mdp"


def played_agent(env_id: str, code: str, steps: int = 12, seed: int = 0) -> LLMMDPAgent:
    """An llm_mdp agent on ``env_id`` after ``steps`` uniformly random actions (env and actions from ``seed``)."""
    env = gym.make(env_id).unwrapped
    env.reset(seed=seed)
    agent = LLMMDPAgent(LLMMDPParams(design=code))
    agent.horizon = 100
    agent.reset(env, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        a = int(rng.integers(env.n_actions))
        _, r, _, _, info = env.step(a)
        agent.observe(a, r, info)
    return agent


def rendered(env_id: str, code: str, steps: int = 12) -> str:
    agent = played_agent(env_id, code, steps)
    ctx = agent.proposal_context()
    msgs = agent.messages(ctx.heuristic_prompt(agent.start_meta_prompt()))
    parts = [f"[{m.role}]\n{m.content}" for m in msgs]
    parts.append(f"[temperature] {agent.design.temperature}")
    parts.append(f"[constraint] {mt.answer_constraint(agent.env).to_json()}")
    if agent.design.cot:
        parts.append(f"[final answer turn]\n{mt.final_answer_prompt(agent.env)}")
    return "\n\n".join(parts) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"golden file missing: run with UPDATE_GOLDEN=1 to create {path}"
    assert text == path.read_text()


@pytest.mark.parametrize("env_id", sorted(MDP_IDS))
def test_every_env_renders_as_its_golden_file(env_id):
    check_golden("env-" + env_id.split("/")[1], rendered(env_id, "SSN0", steps=30))


@pytest.mark.parametrize("code", mt.all_designs())
def test_every_design_renders_as_its_golden_file(code):
    check_golden(f"design-{code}", rendered("expobench/FrozenLake4x4-v0", code))


def test_design_grammar():
    assert len(mt.all_designs()) == 2 * 2 * 3 * 2 == len(set(mt.all_designs()))
    with pytest.raises(ValueError, match=r"\[N\|S\]\[R\|S\]"):
        mt.MDPDesign("SSD0")
    with pytest.raises(ValueError, match="design"):
        LLMMDPParams(design="BSSN0")


def test_summary_counts_visits_rewards_and_transitions():
    env = gym.make("expobench/FrozenLake4x4-v0").unwrapped
    T = mt.Transition
    trs = [T(0, 0, 0, 2, 0.0, 1, False), T(0, 1, 1, 2, 0.0, 2, False), T(0, 2, 2, 1, 0.0, 6, False),
           T(0, 3, 6, 1, 0.0, 10, False), T(0, 4, 10, 1, 0.0, 14, False), T(0, 5, 14, 2, 1.0, None, True),
           T(1, 0, 0, 2, 0.0, 1, False), T(1, 1, 1, 0, 0.0, 0, False)]
    text = mt.render_summary(env, trs, "index")
    assert text.startswith("What you know from 8 steps, per state:")
    lines = text.splitlines()[1:]
    assert lines[0] == ("- (row 1, col 1) (visited 2x): right tried 2x, mean reward 0, led to (row 1, col 2) x2; "
                        "never tried: left, down, up")
    assert "left tried 1x, mean reward 0, led to (row 1, col 1) x1; right tried 1x" in lines[1]
    assert lines[-1].startswith("- (row 4, col 3) (visited 1x): right tried 1x, mean reward 1, led to episode over")
    assert [line.split(" (visited")[0] for line in mt.render_summary(env, trs, "recent").splitlines()[1:3]] == \
        ["- (row 1, col 2)", "- (row 1, col 1)"]
    assert mt.render_summary(env, trs, "reward").splitlines()[1].startswith("- (row 4, col 3)")
    capped = mt.render_summary(env, trs, "recent", max_states=2)
    assert "(4 less recently visited states not shown)" in capped and len(capped.splitlines()) == 3


def test_raw_history_shows_the_last_window_and_episode_returns():
    agent = played_agent("expobench/RiverSwim-v0", "NRN0", steps=45)
    text = mt.render_history(agent.design, agent.env, agent.transitions, agent.episodes, window=5)
    lines = text.splitlines()
    assert lines[0].startswith("Episodes finished: 2 (returns: ")
    assert lines[1] == "Steps so far (the last 5 of 45):" and len(lines) == 7
    assert lines[-1].startswith("Episode 3, step 5: at position ")


@pytest.mark.parametrize("names", [("left", "down", "right", "up"), ("south", "north", "east", "west", "pickup",
                                                                     "dropoff")])
def test_parse_action(names):
    for i, n in enumerate(names):
        assert mt.parse_action(n, names).action == i
        assert mt.parse_action(f" {n.upper()}.\n", names).action == i
        assert mt.parse_action(f"I will go {n} now", names).action == i
    assert not mt.parse_action(f"{names[0]} or {names[1]}", names).ok
    assert "no action name" in mt.parse_action("jump", names).error
    assert not mt.parse_action(None, names).ok


def test_prompt_score_is_the_normalised_action_value():
    agent = played_agent("expobench/FrozenLake4x4-v0", "SSN0", steps=0)
    env = agent.env
    assert agent.where == (0, 0, 0)
    assert agent.action_value(1) == pytest.approx(1.0)  # down is on a shortest path from S
    agent.where = (5 - 4, 0, 0)  # (row 1, col 2): down leads into the hole at (row 2, col 2)
    assert env.Q[0, 1, 1] == 0 and agent.action_value(1) == 0.0


SCRIPTED = {"backend": "scripted", "policy": "random_choice"}


def test_scripted_llm_agent_through_the_runner(tmp_path):
    agents = [{"name": "summary", "kind": "llm_mdp", "params": {"design": "SSN0"}},
              {"name": "raw_cot", "kind": "llm_mdp", "params": {"design": "NRC1", "cot_max_tokens": 16}},
              {"name": "expo_es", "kind": "llm_mdp", "params": {"design": "SSN0"},
               "optimizer": {"kind": "expo_es", "params": {"steps": 5}, "pool": {"path": str(tmp_path / "p.json")}}}]
    cfg = parse_config({"name": "m", "env": {"id": "expobench/RiverSwim-v0"}, "horizon": 25, "seeds": [0],
                        "agents": agents, "llm": SCRIPTED, "out": str(tmp_path / "o")})
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    base = base_meta_prompt_for(cfg, cfg.agents[2])
    CandidatePool([base.description, base.description.replace("You are", "Imagine you are")],
                  [base.instruction, "Reply with one action name only."]).save(tmp_path / "p.json")
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        data = load_runs(store)
    for name, runs in data.items():
        (run,) = runs
        assert len(run.actions) == 25 and set(run.actions) <= {0, 1}
        for rec in run.records:
            assert not rec["fallback"] and 0.0 <= rec["prompt_score"] <= 1.0
            assert rec["answer"] in ("left", "right")
        if name == "raw_cot":
            assert all("reasoning" in rec for rec in run.records)
    es = data["expo_es"][0].records
    assert es[0]["mp_ids"] == {"d": 0, "i": 0, "e": 0}
    assert {rec["mp_ids"]["e"] for rec in es} <= set(range(len(mt.SUMMARY_ORDERS)))


def test_garbage_answers_fall_back_and_are_counted(tmp_path):
    cfg = parse_config({"name": "m", "env": {"id": "expobench/FrozenLake4x4-v0"}, "horizon": 4, "seeds": [0],
                        "agents": [{"name": "a", "kind": "llm_mdp", "params": {"fallback": 3, "max_retries": 1}}],
                        "llm": {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": ["jump", "fly"]}},
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        (run,) = load_runs(store)["a"]
    assert run.actions == [3, 3, 3, 3]
    assert all(rec["fallback"] and rec["invalid"] and rec["prompt_score"] == 0.0 for rec in run.records)
    assert all(len(rec["errors"]) == 2 for rec in run.records)


@pytest.mark.slow
@pytest.mark.llm
def test_real_smollm2_llm_mdp_agent_answers_with_action_names(tmp_path):
    llm = {"backend": "llamacpp", "model": "smollm2-135m-instruct", "n_ctx": 2048}
    agents = [{"name": "s", "kind": "llm_mdp", "params": {"design": "SSN0"}},
              {"name": "c", "kind": "llm_mdp", "params": {"design": "SRC0", "cot_max_tokens": 16}}]
    cfg = parse_config({"name": "m", "env": {"id": "expobench/FrozenLake4x4-v0"}, "horizon": 4, "seeds": [0],
                        "agents": agents, "llm": llm, "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        data = load_runs(store)
    names = gym.make("expobench/FrozenLake4x4-v0").unwrapped.action_names
    for name in ("s", "c"):
        (run,) = data[name]
        assert len(run.actions) == 4
        for action, rec in zip(run.actions, run.records):
            assert not rec["fallback"], rec
            assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] > 0
            assert mt.parse_action(rec["text"], names).action == action


@pytest.mark.parametrize("propose_per", ["episode", "decision"])
def test_optimiser_proposes_and_learns_once_per_episode(tmp_path, monkeypatch, propose_per):
    """propose_per: episode -- the optimiser proposes at each episode's first decision, the (D, I) and exemplar
    choice hold for the episode (exemplars re-rendered from the current history), and it is fed the episode's
    normalised return once, when the episode ends. decision -- a proposal and an update every decision."""
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.expo_es import EXPOES
    from expobench.metaopt.pools import CandidatePool

    fed: list[float] = []
    update = EXPOES.update
    monkeypatch.setattr(EXPOES, "update", lambda self, score, info: (fed.append(score), update(self, score, info)))
    agent = {"name": "es", "kind": "llm_mdp", "params": {"design": "SSN0", "propose_per": propose_per},
             "optimizer": {"kind": "expo_es", "params": {"steps": 5, "eta": 1e-6},
                           "pool": {"path": str(tmp_path / "p.json")}}}
    cfg = parse_config({"name": "m", "env": {"id": "expobench/RiverSwim-v0", "kwargs": {"episode_length": 5}},
                        "horizon": 23, "seeds": [0], "agents": [agent], "llm": SCRIPTED, "out": str(tmp_path / "o")})
    base = base_meta_prompt_for(cfg, cfg.agents[0])
    CandidatePool([base.description, base.description.replace("You are", "Imagine you are")],
                  [base.instruction, "Reply with one action name only.", "Think, then answer."]).save(tmp_path / "p.json")
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        (run,) = load_runs(store)["es"]
    records = run.records
    ends = [rec["info"]["episode_score"] for rec in records if "episode_score" in rec.get("info", {})]
    assert len(ends) == 4  # 23 decisions: four whole episodes of 5, three decisions of the fifth
    if propose_per == "decision":
        assert fed == [rec["prompt_score"] for rec in records]
        return
    assert fed == ends
    episodes = [records[k:k + 5] for k in range(0, 23, 5)]
    for episode in episodes:
        assert len({json.dumps(rec["mp_ids"], sort_keys=True) for rec in episode}) == 1
    # a near-uniform sampler (eta 1e-6) over 2 x 3 x |orders| candidates changes its choice between some episodes
    assert len({json.dumps(ep[0]["mp_ids"], sort_keys=True) for ep in episodes}) > 1
    # the exemplars follow the history within an episode: the prompt differs at every decision
    assert all(a["mp_hash"] != b["mp_hash"] for ep in episodes for a, b in zip(ep, ep[1:]))
    # the best meta-prompt is ranked by what the optimiser was fed: one use per finished episode, its score
    from expobench.experiments.comparisons import optimiser_best_prompts

    with RunStore(tmp_path / "o", create=False) as store:
        best = optimiser_best_prompts(store, k=20)["es"]
    fed_by_prompt: dict[str, list[float]] = {}
    for episode, score in zip(episodes, ends):  # the four finished episodes
        fed_by_prompt.setdefault(episode[-1]["di_hash"], []).append(score)
    assert best and all(p["uses"] == len(fed_by_prompt[p["di_hash"]]) and
                        p["mean_score"] == pytest.approx(np.mean(fed_by_prompt[p["di_hash"]])) for p in best)
