import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import expobench.envs  # noqa: F401
from expobench.agents.llm_bandit import LLMBanditAgent, LLMBanditParams
from expobench.envs import bandit_text as bt

GOLDEN = Path(__file__).parent / "golden" / "bandit"
HISTORY = ([0, 1, 0, 2, 0, 3], [1.0, 0.0, 1.0, 0.0, 0.0, 1.0])


def rendered(code: str) -> str:
    agent = LLMBanditAgent(LLMBanditParams(design=code))
    agent.horizon = 100
    agent.params = LLMBanditParams(design=code)
    agent.task_reset(gym.make("expobench/MAB-hard-v0").unwrapped)
    agent.actions, agent.rewards = list(HISTORY[0]), list(HISTORY[1])
    agent.t = len(agent.actions)
    ctx = agent.proposal_context()
    mp = agent.base_meta_prompt().with_exemplars(ctx.exemplar_candidates[ctx.heuristic])
    msgs = agent.messages(mp)
    c = bt.answer_constraint(agent.design, agent.n_arms)
    parts = [f"[{m.role}]\n{m.content}" for m in msgs]
    parts.append(f"[temperature] {agent.design.temperature}")
    parts.append(f"[constraint] {c.to_json()}")
    if agent.design.cot:
        parts.append(f"[final answer turn]\n{bt.final_answer_prompt(agent.design, agent.n_arms)}")
    return "\n\n".join(parts) + "\n"


@pytest.mark.parametrize("code", bt.all_designs())
def test_rendering_matches_golden_file(code):
    path = GOLDEN / f"{code}.txt"
    text = rendered(code)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"golden file missing: run with UPDATE_GOLDEN=1 to create {path}"
    assert text == path.read_text()


@pytest.mark.parametrize("env_id", ["expobench/MAB-hard-changepoint-v0", "expobench/MAB-hard-drift-v0"])
@pytest.mark.parametrize("code", ["BSSN0", "ASSND"])
def test_non_stationary_env_is_not_described_as_fixed(env_id, code):
    """A drifting or switching bandit's task text must not tell the agent that the probabilities are fixed; the
    env declares it (metadata ``expobench.stationary``), through Gymnasium's wrappers."""
    agent = LLMBanditAgent(LLMBanditParams(design=code))
    agent.horizon = 100
    agent.task_reset(gym.make(env_id))
    d = agent.base_meta_prompt().description
    assert "fixed" not in d and "can change over time" in d
    agent.task_reset(gym.make("expobench/MAB-hard-v0"))
    d = agent.base_meta_prompt().description
    assert "fixed" in d and "change over time" not in d


def test_design_space_has_all_factor_combinations():
    designs = bt.all_designs()
    assert len(designs) == 2 * 2 * 2 * 3 * 3 == len(set(designs))
    assert {"BNRN0", "BSSND", "BSSCD", "BSSC0", "ASRR1"} <= set(designs)


def test_bad_design_code_is_rejected_with_the_grammar():
    with pytest.raises(ValueError, match=r"\[B\|A\]"):
        bt.Design("BSXND")


def test_static_part_first_history_last():
    text = rendered("BSSND")
    assert text.index("[system]") < text.index("[user]") < text.index("Summary of the 6 rounds")


def test_summary_statistics_are_computed_in_code():
    d = bt.Design("BNSN0")
    text = bt.render_history(d, 5, *HISTORY)
    assert "blue button: pressed 3 times, average reward 0.67" in text
    assert "purple button: pressed 0 times" in text


def test_parsers_on_typical_answers():
    d, dd = bt.Design("BNSN0"), bt.Design("BSSND")
    assert bt.parse_answer("red", d, 5).probs == (0, 0, 1, 0, 0)
    assert bt.parse_answer(" Blue.\n", d, 5).probs == (1, 0, 0, 0, 0)
    assert bt.parse_answer("I press the green button", d, 5).probs == (0, 1, 0, 0, 0)
    assert not bt.parse_answer("blue or green", d, 5).ok
    assert not bt.parse_answer("", d, 5).ok
    p = bt.parse_answer("blue:0.5,green:0.25,red:0.25,yellow:0,purple:0", dd, 5).probs
    assert p == pytest.approx((0.5, 0.25, 0.25, 0, 0))
    assert bt.parse_answer("blue:2,green:2", dd, 5).probs == pytest.approx((0.5, 0.5, 0, 0, 0))
    assert not bt.parse_answer("blue:0,green:0", dd, 5).ok
    assert not bt.parse_answer("blue:0.5,blue:0.5", dd, 5).ok
    assert not bt.parse_answer("blue:-1,green:2", dd, 5).ok
    ad = bt.Design("ANSN0")
    assert bt.parse_answer("C", ad, 5).probs == (0, 0, 1, 0, 0)


@settings(max_examples=300, deadline=None)
@given(text=st.text(), code=st.sampled_from(["BNSN0", "BSSND", "ANRN1", "ASSCD"]))
def test_parsers_never_raise_and_return_valid_or_error(text, code):
    d = bt.Design(code)
    r = bt.parse_answer(text, d, 5)
    assert (r.probs is None) != (r.error is None)
    if r.ok:
        p = np.array(r.probs)
        assert len(p) == 5 and (p >= 0).all() and p.sum() == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(probs=st.lists(st.integers(0, 100), min_size=5, max_size=5).filter(lambda x: sum(x) > 0))
def test_distribution_roundtrip(probs):
    d = bt.Design("BSSND")
    text = ",".join(f"{n}:{p / 100:.2f}" for n, p in zip(bt.arm_names("B", 5), probs))
    r = bt.parse_answer(text, d, 5)
    assert r.ok
    np.testing.assert_allclose(r.probs, np.array(probs) / sum(probs), atol=1e-9)


def test_agent_params_validate_design():
    with pytest.raises(Exception, match="not a valid code"):
        LLMBanditParams(design="XXXXX")


