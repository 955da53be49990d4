import gymnasium as gym
import numpy as np
import pytest

import expobench.envs  # noqa: F401
from expobench.agents.registry import agent_kinds, make_agent
from expobench.experiments.seeding import seed_streams

CLASSICAL = ["random", "greedy", "epsilon_greedy", "ucb", "thompson", "exp3", "sw_ucb", "discounted_thompson"]


def play(kind, env_id="expobench/MAB-hard-v0", seed=0, T=100, **env_kwargs):
    env = gym.make(env_id, **env_kwargs)
    env_seed, rng = seed_streams(seed)
    env.reset(seed=env_seed)
    agent = make_agent(kind)
    agent.horizon = T  # as the runner does
    agent.reset(env.unwrapped, rng)
    regret, actions = 0.0, []
    for _ in range(T):
        a = agent.act(0)
        _, r, _, _, info = env.step(a)
        agent.observe(a, r, info)
        regret += info["optimal_expected_reward"] - info["expected_reward"]
        actions.append(a)
    return regret, actions


def test_all_classical_kinds_registered():
    assert set(CLASSICAL) <= set(agent_kinds())


@pytest.mark.parametrize("kind", CLASSICAL)
def test_agents_are_deterministic_given_seed(kind):
    assert play(kind, seed=3, T=60) == play(kind, seed=3, T=60)


@pytest.mark.parametrize("kind", CLASSICAL)
def test_agents_run_on_gaussian_and_nonstationary_envs(kind):
    for env_id in ["expobench/MAB-gaussian-v0", "expobench/MAB-hard-changepoint-v0", "expobench/MAB-hard-drift-v0"]:
        regret, actions = play(kind, env_id=env_id, T=30)
        assert np.isfinite(regret) and all(0 <= a < 5 for a in actions)


@pytest.mark.parametrize("kind", ["ucb", "thompson"])
def test_ucb_and_thompson_beat_random_on_hard_instance(kind):
    seeds = range(20)
    smart = np.mean([play(kind, seed=s, T=500)[0] for s in seeds])
    rand = np.mean([play("random", seed=s, T=500)[0] for s in seeds])
    # Random's expected regret is 0.8 * 0.2 * 500 = 80; a working algorithm is far below.
    assert rand == pytest.approx(80, rel=0.15)
    assert smart < 0.7 * rand


@pytest.mark.parametrize("kind", ["sw_ucb", "discounted_thompson"])
def test_nonstationary_agents_adapt_after_change_point(kind):
    """After a change point, the forgetting agents lose far less than stationary Thompson sampling, which keeps
    trusting 1000 rounds of outdated evidence."""
    env_id, kw = "expobench/MAB-hard-changepoint-v0", {"means": [0.9, 0.5, 0.1], "change_points": [1000]}

    def regret_after_change(k):
        return np.mean([play(k, env_id=env_id, seed=s, T=2000, **kw)[0] - play(k, env_id=env_id, seed=s, T=1000, **kw)[0]
                        for s in range(10)])

    assert regret_after_change(kind) < 0.6 * regret_after_change("thompson")


def test_bad_params_rejected():
    with pytest.raises(Exception, match="epsilon"):
        make_agent("epsilon_greedy", {"epsilon": 2})
    with pytest.raises(Exception, match="extra"):
        make_agent("ucb", {"bogus": 1})


def test_exp3_tunes_gamma_to_the_runs_horizon(tmp_path):
    import math

    import gymnasium as gym

    from expobench.agents.bandit import RandomAgent
    from expobench.agents.registry import AGENTS, make_agent, register_agent
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import run_experiment

    env = gym.make("expobench/MAB-hard-v0").unwrapped
    gammas = {}
    for T in (50, 400):
        agent = make_agent("exp3", {})
        agent.horizon = T
        agent.reset(env, np.random.default_rng(0))
        gammas[T] = agent.gamma
        assert agent.gamma == pytest.approx(math.sqrt(5 * math.log(5) / ((math.e - 1) * T)))
    assert gammas[50] > gammas[400]
    with pytest.raises(ValueError, match="horizon"):
        make_agent("exp3", {}).reset(env, np.random.default_rng(0))  # no runner, no horizon: no silent 100

    seen = []

    @register_agent
    class Recorder(RandomAgent):
        kind = "horizon_recorder"

        def reset(self, env, rng):
            seen.append(self.horizon)
            super().reset(env, rng)

    try:
        cfg = parse_config({"name": "h", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 37, "out": str(tmp_path),
                            "agents": [{"name": "r", "kind": "horizon_recorder"}]})
        run_experiment(cfg, progress=False).close()
    finally:
        AGENTS.pop("horizon_recorder", None)
    assert seen and set(seen) == {37}  # the run, and the dry pass before it, both reset with the run's horizon
