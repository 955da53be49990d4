import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from expobench import envs
from expobench.envs.bandits import DriftingBandit, MeansBandit, PiecewiseStationaryBandit, TwoLevelBandit

# every id, except that the 25 HPO tasks are represented by their small datasets (each model on iris and on the
# diabetes regression task): checking digits-sized tasks would fit models for minutes without testing more
CHECKED_IDS = [i for i in envs.registered_ids()
               if not i.startswith("expobench/HPO-") or i.endswith(("-iris-v0", "-diabetes-v0"))]


@pytest.mark.parametrize("env_id", CHECKED_IDS)
def test_check_env_passes_for_every_registered_id(env_id, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))  # HPO evaluations, TSP optima
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)


def test_hard_and_easy_instances_follow_krishnamurthy():
    hard = gym.make("expobench/MAB-hard-v0").unwrapped
    easy = gym.make("expobench/MAB-easy-v0").unwrapped
    np.testing.assert_allclose(hard.base_means, [0.6, 0.4, 0.4, 0.4, 0.4])
    np.testing.assert_allclose(easy.base_means, [0.75, 0.25, 0.25, 0.25])
    moved = gym.make("expobench/MAB-hard-v0", best_arm=3).unwrapped
    moved.reset(seed=0)
    assert int(np.argmax(moved.means_at(0))) == 3


def test_the_best_arm_position_is_drawn_per_seed_unless_fixed():
    from expobench.experiments.seeding import seed_streams

    env = gym.make("expobench/MAB-hard-v0").unwrapped
    positions = set()
    for seed in range(8):
        env.reset(seed=seed_streams(seed)[0])
        means = env.means_at(0)
        assert sorted(means) == pytest.approx([0.4] * 4 + [0.6])
        positions.add(int(np.argmax(means)))
        assert env.step(0)[4]["optimal_action"] == env.best_arm_position == int(np.argmax(means))
    assert len(positions) >= 2
    fixed = gym.make("expobench/MAB-hard-v0", best_arm=0).unwrapped
    for seed in range(8):
        fixed.reset(seed=seed)
        assert int(np.argmax(fixed.means_at(0))) == 0


def test_drawing_the_position_leaves_the_reward_noise_unchanged():
    """The position comes from the dynamics stream: the uniform draws behind the rewards are those of a fixed
    position under the same seed (common random numbers across positions too)."""
    for seed in range(5):
        drawn, fixed = TwoLevelBandit(), TwoLevelBandit(best_arm=0)
        drawn.reset(seed=seed)
        fixed.reset(seed=seed)
        assert np.array_equal(drawn._noise_rng.random(20), fixed._noise_rng.random(20))


@pytest.mark.parametrize("env_id", ["expobench/MAB-hard-changepoint-v0", "expobench/MAB-hard-drift-v0"])
def test_non_stationary_bandits_draw_their_first_best_arm_per_seed_unless_fixed(env_id):
    """The non-stationary instances start from the hard two-level means: their first best arm is drawn per seed
    like the stationary one's; ``best_arm: 0`` keeps the old schedule exactly (the paper's position, then the same
    change points or walk), and the reward noise is the same either way."""
    first = set()
    for seed in range(8):
        drawn = gym.make(env_id).unwrapped
        fixed = gym.make(env_id, best_arm=0).unwrapped
        explicit = gym.make(env_id, means=[0.6, 0.4, 0.4, 0.4, 0.4]).unwrapped
        drawn.reset(seed=seed)
        fixed.reset(seed=seed)
        explicit.reset(seed=seed)
        assert np.array_equal(drawn._noise_rng.random(20), fixed._noise_rng.random(20))
        first.add(int(np.argmax(drawn.means_at(0))))
        assert drawn.best_arm_position == int(np.argmax(drawn.means_at(0)))
        assert fixed.best_arm_position == 0 and explicit.best_arm_position is None
        for t in (0, 49, 50, 99, 150):
            assert np.array_equal(fixed.means_at(t), explicit.means_at(t)), (seed, t)
    assert len(first) >= 2
    with pytest.raises(ValueError, match="means or best_arm"):
        gym.make(env_id, means=[0.6, 0.4], best_arm=1)
    with pytest.raises(ValueError, match="best_arm must be an arm index"):
        gym.make(env_id, best_arm=5)


def _trajectory(env, actions, seed):
    env.reset(seed=seed)
    return [env.step(a)[1:] for a in actions]


def test_same_seed_same_trajectory():
    env = TwoLevelBandit()
    actions = list(np.random.default_rng(0).integers(5, size=50))
    assert _trajectory(env, actions, 7) == _trajectory(env, actions, 7)
    assert _trajectory(env, actions, 7) != _trajectory(env, actions, 8)


@pytest.mark.parametrize("env", [TwoLevelBandit(), MeansBandit([0.0, 1.0, 2.0], reward="gaussian"),
                                 PiecewiseStationaryBandit(period=10), DriftingBandit(drift_std=0.1)])
def test_common_random_numbers(env):
    """The reward of (round, arm) does not depend on which arms were played before."""
    T, K = 40, env.n_arms
    table = np.empty((T, K))
    for a in range(K):  # always-a agents
        table[:, a] = [r for _, r, *_ in _trajectory(env, [a] * T, 3)]
    mixed = list(np.random.default_rng(1).integers(K, size=T))
    rewards = [r for _, r, *_ in _trajectory(env, mixed, 3)]
    assert rewards == [table[t, a] for t, a in enumerate(mixed)]


def test_info_carries_regret_oracle():
    env = TwoLevelBandit(n_arms=4, delta=0.5, best_arm=2)
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)
    assert info["expected_reward"] == pytest.approx(0.25)
    assert info["optimal_expected_reward"] == pytest.approx(0.75)
    assert info["optimal_action"] == 2


def test_piecewise_means_change_at_change_points_and_depend_on_seed_only():
    env = PiecewiseStationaryBandit(means=[0.1, 0.2, 0.3, 0.4, 0.9], change_points=[5, 10])
    env.reset(seed=0)
    seen = [env.step(0)[4]["means"] for _ in range(15)]
    assert seen[0] == seen[4] and seen[5] == seen[9] and seen[10] == seen[14]
    assert sorted(seen[5]) == sorted(seen[0])
    env.reset(seed=0)
    again = [env.step(4)[4]["means"] for _ in range(15)]
    assert again == seen


def test_drift_stays_in_bounds():
    env = DriftingBandit(drift_std=0.3, low=0.1, high=0.8)
    env.reset(seed=0)
    means = np.array([env.step(0)[4]["means"] for _ in range(200)])
    assert means.min() >= 0.1 and means.max() <= 0.8
    assert np.abs(np.diff(means, axis=0)).max() > 0


def test_horizon_truncates():
    env = TwoLevelBandit(horizon=3)
    env.reset(seed=0)
    assert [env.step(0)[3] for _ in range(3)] == [False, False, True]


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="best_arm"):
        TwoLevelBandit(n_arms=3, best_arm=5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MeansBandit([0.5, 1.5])
    env = TwoLevelBandit()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="arm index"):
        env.step(9)


def test_every_id_keeps_gymnasiums_passive_checker_and_declares_its_metric():
    from expobench.experiments.metrics import METRICS, declared_metric

    for env_id in envs.registered_ids():
        assert gym.spec(env_id).disable_env_checker is False, env_id
        assert declared_metric(env_id) in METRICS, env_id
    env = gym.make("expobench/MAB-hard-v0")
    assert "PassiveEnvChecker" in str(env)
