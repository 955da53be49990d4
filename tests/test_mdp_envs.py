"""Tabular MDP envs: Gymnasium's checker on every id, the episode protocol, and the value-iteration oracle against
brute force (policy enumeration and expectimax over Gymnasium's own tables)."""

import itertools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import expobench.envs  # noqa: F401
from expobench.envs.mdp import MDP_IDS, DeepSeaMDP, FrozenLakeMDP, RiverSwimMDP, TabularMDPEnv, solve
from expobench.experiments.metrics import metric_for


@pytest.mark.parametrize("env_id", sorted(MDP_IDS))
def test_check_env_and_declared_metric(env_id):
    env = gym.make(env_id).unwrapped
    check_env(env, skip_render_check=True)
    assert metric_for(env_id).name == "cumulative_regret"
    assert len(env.action_names) == env.action_space.n


def _rollout(env: TabularMDPEnv, actions):
    out = []
    for a in actions:
        out.append(env.step(a))
    return out


def test_episodes_restart_inside_the_run_and_info_carries_the_episode():
    env = gym.make("expobench/FrozenLake4x4-v0").unwrapped
    obs, info = env.reset(seed=3)
    assert obs == 0 and info["episode"] == 0
    # down, down, right, right, down, right reaches G (row 4, col 4) in 6 steps
    steps = _rollout(env, [1, 1, 2, 2, 1, 2])
    *_, (obs, reward, term, trunc, info) = steps
    assert reward == 1.0 and not term and not trunc
    assert info["episode_end"] and info["terminal"] and info["episode_goal"] and info["episode_return"] == 1.0
    assert info["episode_score"] == pytest.approx(1.0) and info["episode_optimal_value"] == pytest.approx(1.0)
    assert obs == 0 and env.episode == 1 and env.h == 0  # the next episode started at S
    assert sum(s[4]["action_gap"] for s in steps) == pytest.approx(0.0)
    # a hole ends the episode with return 0 and a gap equal to the value lost
    obs, reward, *_, info = env.step(2)  # right: (1, 2)
    obs, reward, *_, info = env.step(1)  # down into the hole at (2, 2)
    assert info["terminal"] and info["episode_end"] and not info["episode_goal"] and info["episode_return"] == 0
    assert info["action_gap"] == pytest.approx(1.0) and info["episode"] == 1 and obs == 0


def test_episode_ends_after_the_episode_length():
    env = gym.make("expobench/RiverSwim-v0").unwrapped
    env.reset(seed=0)
    ends = [env.step(0)[4]["episode_end"] for _ in range(45)]
    assert [i for i, e in enumerate(ends) if e] == [19, 39]
    assert env.episode == 2 and env.h == 5


def test_same_seed_same_outcomes_and_rewards_are_common_random_numbers():
    a = gym.make("expobench/FrozenLake4x4-slippery-v0").unwrapped
    b = gym.make("expobench/FrozenLake4x4-slippery-v0").unwrapped
    a.reset(seed=7)
    b.reset(seed=7)
    rng = np.random.default_rng(0)
    acts = rng.integers(4, size=200)
    ra = [(o, r, i["action_gap"]) for o, r, _, _, i in _rollout(a, acts)]
    rb = [(o, r, i["action_gap"]) for o, r, _, _, i in _rollout(b, acts)]
    assert ra == rb
    b.reset(seed=8)
    assert [o for o, *_ in _rollout(b, acts)] != [o for o, *_ in ra]


def _policy_value(model, policy, horizon, s, h=0):
    """Exact value of a non-stationary deterministic policy ``policy[h][s]`` by enumerating outcomes."""
    if h == horizon:
        return 0.0
    a = policy[h][s]
    total = 0.0
    for p, nxt, r, done in zip(model.probs[s, a], model.next_states[s, a], model.rewards[s, a], model.dones[s, a]):
        if p > 0:
            total += p * (r + (0.0 if done else _policy_value(model, policy, horizon, int(nxt), h + 1)))
    return total


def test_oracle_equals_the_best_of_all_policies_riverswim():
    env = RiverSwimMDP(n_states=4, episode_length=3)
    S, A, H = env.n_states, env.n_actions, 3
    best = np.full(S, -np.inf)
    for flat in itertools.product(range(A), repeat=S * H):  # every non-stationary deterministic policy: 4096
        policy = np.asarray(flat).reshape(H, S)
        for s in range(S):
            best[s] = max(best[s], _policy_value(env.model, policy, H, s))
    V, Q = solve(env.model, H)
    np.testing.assert_allclose(V[0], best, atol=1e-12)
    assert V[0, S - 1] > 0  # the far end pays: a non-trivial instance


def test_oracle_equals_the_best_of_all_policies_deepsea():
    env = DeepSeaMDP(size=3)
    N = 3
    reachable = [[r * N + c for c in range(r + 1)] for r in range(N)]
    best = -np.inf
    for bits in itertools.product((0, 1), repeat=sum(len(x) for x in reachable)):
        policy = np.zeros((N, N * N), dtype=int)
        it = iter(bits)
        for h, states in enumerate(reachable):
            for s in states:
                policy[h, s] = next(it)
        best = max(best, _policy_value(env.model, policy, N, 0))
    assert env.V[0, 0] == pytest.approx(best, abs=1e-12)
    assert env.V[0, 0] == pytest.approx(1.0 - 0.01)  # N moves right, each costing 0.01 / N, then the treasure


def _expectimax(P, s, steps):
    """V* by brute-force search over Gymnasium's own table ``P[s][a] = [(p, next, r, done)]``."""
    if steps == 0:
        return 0.0
    return max(sum(p * (r + (0.0 if done else _expectimax(P, nxt, steps - 1))) for p, nxt, r, done in P[s][a])
               for a in P[s])


@pytest.mark.parametrize("kwargs", [{"is_slippery": True}, {"is_slippery": False}])
def test_oracle_equals_expectimax_on_gymnasiums_table(kwargs):
    H = 5
    env = FrozenLakeMDP(episode_length=H, **kwargs)
    P = gym.make("FrozenLake-v1", disable_env_checker=True, **kwargs).unwrapped.P
    for s in (0, 6, 9, 14):
        for h in (0, 2, 4):
            assert env.V[h, s] == pytest.approx(_expectimax(P, s, H - h), abs=1e-12)


def test_cliff_and_taxi_optima():
    cliff = gym.make("expobench/CliffWalking-v0").unwrapped
    assert cliff.V[0, 36] == pytest.approx(-13.0)  # up, 11 x right, down
    taxi = gym.make("expobench/Taxi-v0").unwrapped
    # every start can be served within 25 steps: delivering pays, so V* > -25 everywhere it starts
    starts = np.flatnonzero(taxi.model.start)
    assert (taxi.V[0, starts] > 0).all()


def test_sum_of_expected_gaps_is_the_episode_regret_of_a_policy():
    """Σ_h E[gap_h] along a random stationary policy = V*_0(s0) − V^π_0(s0) (exact forward distributions), and the
    env's per-step gaps average to it (Monte Carlo)."""
    env = gym.make("expobench/FrozenLake4x4-slippery-v0").unwrapped
    H, S, m = env.episode_length, env.n_states, env.model
    rng = np.random.default_rng(1)
    pi = rng.dirichlet(np.ones(env.n_actions), size=S)  # stochastic stationary policy [S, A]
    R, P = m.mean_reward, m.continuation
    V = np.zeros(S)
    for _ in range(H):
        V = (pi * (R + P @ V)).sum(1)
    d = m.start.copy()
    gaps = 0.0
    for h in range(H):
        gaps += float(d @ (pi * (env.V[h][:, None] - env.Q[h])).sum(1))
        d = np.einsum("s,sa,sat->t", d, pi, P)
    assert gaps == pytest.approx(env.V[0, 0] - V[0], abs=1e-10)
    env.reset(seed=5)
    total_gap, returns = 0.0, []
    while len(returns) < 3000:
        a = int(rng.choice(env.n_actions, p=pi[env.state]))
        *_, info = env.step(a)
        total_gap += info["action_gap"]
        if info["episode_end"]:
            returns.append(info["episode_return"])
    mean_return = np.mean(returns)
    assert total_gap / len(returns) == pytest.approx(env.V[0, 0] - V[0], abs=0.02)
    assert mean_return == pytest.approx(V[0], abs=0.03)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="map_name"):
        FrozenLakeMDP(map_name="5x5")
    with pytest.raises(ValueError, match="n_states"):
        RiverSwimMDP(n_states=2)
    with pytest.raises(ValueError, match="episode_length"):
        RiverSwimMDP(episode_length=0)
    with pytest.raises(ValueError, match="size"):
        DeepSeaMDP(size=1)
    env = gym.make("expobench/RiverSwim-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="left, right"):
        env.step(2)
