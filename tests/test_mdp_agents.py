"""Classical MDP agents: PSRL and UCB-VI beat random and ε-greedy Q-learning on RiverSwim over 20 seeds; the
optimal policy has zero regret; the agents run through the experiment runner."""

import gymnasium as gym
import numpy as np
import pytest

import expobench.envs  # noqa: F401
from expobench.agents.registry import make_agent
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import cumulative_regret, load_runs
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore

SEEDS = range(20)


def final_regret(env_id: str, kind: str, seed: int, T: int) -> float:
    env = gym.make(env_id).unwrapped
    obs, _ = env.reset(seed=seed)
    agent = make_agent(kind)
    agent.horizon = T
    agent.reset(env, np.random.default_rng(10_000 + seed))
    regret = 0.0
    for _ in range(T):
        a = agent.act(obs)
        obs, r, _, _, info = env.step(a)
        agent.observe(a, r, info)
        regret += info["action_gap"]
    return regret


def test_psrl_and_ucbvi_beat_random_and_q_learning_on_riverswim():
    T = 2000  # 100 episodes of 20 steps
    regret = {k: np.array([final_regret("expobench/RiverSwim-v0", k, s, T) for s in SEEDS])
              for k in ("random", "q_learning", "psrl", "ucbvi")}
    mean = {k: v.mean() for k, v in regret.items()}
    se = {k: v.std(ddof=1) / np.sqrt(len(v)) for k, v in regret.items()}
    for good in ("psrl", "ucbvi"):
        for bad in ("random", "q_learning"):
            # separated by more than 3 standard errors of each, not just on average
            assert mean[good] + 3 * se[good] < mean[bad] - 3 * se[bad], (good, bad, mean, se)
    # both learn: the second half of the run costs far less than random's
    assert mean["psrl"] < 0.5 * mean["random"] and mean["ucbvi"] < 0.5 * mean["random"]


@pytest.mark.parametrize("env_id", ["expobench/FrozenLake4x4-slippery-v0", "expobench/Taxi-v0",
                                    "expobench/DeepSea-v0", "expobench/CliffWalking-v0"])
def test_optimal_policy_has_zero_regret_and_the_others_run(env_id):
    assert final_regret(env_id, "mdp_optimal", 0, 300) == pytest.approx(0.0, abs=1e-9)
    for kind in ("random", "q_learning", "psrl", "ucbvi"):
        assert final_regret(env_id, kind, 0, 120) > 0


def test_ucbvi_tries_every_action_of_a_new_state_first():
    env = gym.make("expobench/RiverSwim-v0").unwrapped
    obs, _ = env.reset(seed=0)
    agent = make_agent("ucbvi")
    agent.reset(env, np.random.default_rng(0))
    first = agent.act(obs)
    env_obs, r, _, _, info = env.step(first)
    agent.observe(first, r, info)
    if env_obs == obs:  # still at the bank: the untried action comes next
        assert agent.act(env_obs) != first


def test_agents_refuse_a_bandit_env():
    with pytest.raises(TypeError, match="tabular MDP"):
        make_agent("psrl").reset(gym.make("expobench/MAB-hard-v0").unwrapped, np.random.default_rng(0))


def test_runner_stores_gaps_as_regret_and_episode_info(tmp_path):
    agents = [{"name": k, "kind": k} for k in ("random", "q_learning", "psrl", "ucbvi", "mdp_optimal")]
    cfg = parse_config({"name": "mdp", "env": {"id": "expobench/FrozenLake4x4-slippery-v0"}, "horizon": 90,
                        "seeds": [0, 1], "agents": agents, "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        data = load_runs(store)
    for kind, runs in data.items():
        for run in runs:
            gaps = [rec["info"]["action_gap"] for rec in run.records]
            np.testing.assert_allclose(cumulative_regret(run), np.cumsum(gaps), atol=1e-12)
            ends = [rec["info"] for rec in run.records if rec["info"]["episode_end"]]
            assert ends and all("episode_return" in e and "episode_goal" in e for e in ends)
            assert [e["episode"] for e in ends] == list(range(len(ends)))
        if kind == "mdp_optimal":
            assert all(cumulative_regret(r)[-1] == pytest.approx(0.0, abs=1e-9) for r in runs)
        else:
            assert any(cumulative_regret(r)[-1] > 0 for r in runs)
    from expobench.experiments.metrics import episode_table, episodes
    from expobench.experiments.plots import plot_all

    with RunStore(tmp_path / "o", create=False) as store:
        paths = plot_all(store)
    assert [p.name for p in paths] == ["regret.png", "episodes.png"] and all(p.stat().st_size > 0 for p in paths)
    table = episode_table(data)
    for kind, runs in data.items():
        n = sum(len(episodes(r)[0]) for r in runs)
        assert table[kind]["episodes_per_run"] == n / len(runs) and 0 <= table[kind]["goal_share"] <= 1


def test_no_episode_plot_for_a_bandit(tmp_path):
    from expobench.experiments.mdp_plots import plot_episodes

    cfg = parse_config({"name": "b", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 5, "seeds": [0],
                        "agents": [{"name": "r", "kind": "random"}], "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        assert plot_episodes(store) == []


@pytest.mark.parametrize("env, agent, message", [
    ({"id": "expobench/FrozenLake4x4-v0", "kwargs": {"map_name": "5x5"}}, {"kind": "psrl"},
     "map_name must be '4x4' or '8x8'"),
    ({"id": "expobench/MAB-hard-v0"}, {"kind": "ucbvi"}, "ucbvi needs a tabular MDP env"),
    ({"id": "expobench/RiverSwim-v0"}, {"kind": "llm_mdp", "params": {"design": "SSX0"}},
     r"4 letters from \[N\|S\]"),
])
def test_bad_configs_are_refused_before_any_work(tmp_path, capsys, env, agent, message):
    import re

    import yaml

    from expobench.experiments.cli import main

    cfg = {"name": "bad", "env": env, "horizon": 3, "agents": [{"name": "a", **agent}],
           "llm": {"backend": "scripted"}, "out": str(tmp_path / "o")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path / "c.yaml"), "--quiet"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "o").exists()
