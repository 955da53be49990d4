"""K-armed bandit environments (METHODS §4.1): stationary Bernoulli/Gaussian, piecewise-stationary, drifting.

Contract (all classes):

- ``action_space = Discrete(K)``; the observation is a constant ``0`` (``Discrete(1)``): a bandit has no state,
  agents learn from the rewards passed to ``observe``.
- ``reset(seed=...)`` seeds the reward stream. **Common random numbers**: the reward for (round t, arm a) is a
  function of the seed, t and a only -- every round draws one noise value per arm, whichever arm is played -- so
  all agents run under one seed see identical luck.
- ``step(a)`` returns ``(0, reward, False, truncated, info)`` with ``truncated`` True once ``horizon`` rounds
  were played (when a horizon is set). ``info`` carries the oracle quantities regret needs:
  ``expected_reward`` (mean of the played arm this round), ``optimal_expected_reward`` (best mean this round),
  ``optimal_action`` (an arm attaining it) and ``means`` (all arm means this round, list of K floats).
- Non-stationary variants change the means *before* a round's draw; the means of round t depend only on the
  seed and t, never on the agent's actions.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

RewardKind = Literal["bernoulli", "gaussian"]


class MeansBandit(gym.Env):
    """A K-armed bandit with explicit arm means.

    Args:
        means: the K arm means (Bernoulli: probabilities in [0, 1]).
        reward: ``"bernoulli"`` (reward 1 with probability mean) or ``"gaussian"`` (mean + ``noise_std`` · N(0,1)).
        noise_std: standard deviation of Gaussian rewards.
        horizon: rounds per episode (``truncated`` afterwards); ``None`` for no limit.
    """

    # headline metric (experiments.metrics); "expobench.stationary": whether the arm means stay fixed over an
    # episode, which the bandit task text states (a task text must not tell an agent the means are fixed when not)
    metadata = {"render_modes": [], "expobench.metric": "cumulative_regret", "expobench.stationary": True}

    def __init__(
        self,
        means: list[float] | np.ndarray,
        reward: RewardKind = "bernoulli",
        noise_std: float = 1.0,
        horizon: int | None = None,
    ) -> None:
        means = np.asarray(means, dtype=np.float64)
        if means.ndim != 1 or len(means) < 2:
            raise ValueError(f"means must be a list of at least 2 numbers, got {means.tolist()}")
        if not (np.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std}")
        if reward not in ("bernoulli", "gaussian"):
            raise ValueError(f"reward must be 'bernoulli' or 'gaussian', got {reward!r}")
        if reward == "bernoulli" and ((means < 0) | (means > 1)).any():
            raise ValueError(f"Bernoulli means must lie in [0, 1], got {means.tolist()}")
        self.base_means = means
        self.reward_kind: RewardKind = reward
        self.noise_std = float(noise_std)
        self.horizon = horizon
        self.n_arms = len(means)
        self.action_space = spaces.Discrete(self.n_arms)
        self.observation_space = spaces.Discrete(1)
        self.t = 0
        self._means = means.copy()

    # -- hooks for non-stationary subclasses -------------------------------------------------------------
    def _init_dynamics(self) -> None:
        """Called by ``reset`` after seeding; subclasses draw their schedule here."""
        self._means = self.base_means.copy()

    def means_at(self, t: int) -> np.ndarray:
        """Arm means in round ``t`` (0-based). Stationary: the base means."""
        return self._means

    # -- Gymnasium API -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        # Separate streams: the noise stream must not depend on how many draws the dynamics used.
        dyn_seed, noise_seed = self.np_random.integers(0, 2**63 - 1, size=2)
        self._dyn_rng = np.random.default_rng(int(dyn_seed))
        self._noise_rng = np.random.default_rng(int(noise_seed))
        self._best_of: np.ndarray | None = None
        self._init_dynamics()
        return 0, {"means": self.means_at(0).tolist()}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an arm index in [0, {self.n_arms}), got {action!r}")
        a = int(action)
        means, reward, best = self._play(a)
        info = {
            "expected_reward": float(means[a]),
            "optimal_expected_reward": float(means[best]),
            "optimal_action": best,
            "means": means.tolist(),
        }
        truncated = self.horizon is not None and self.t >= self.horizon
        return 0, reward, False, truncated, info

    def _play(self, a: int) -> tuple[np.ndarray, float, int]:
        """One round with arm ``a``: (this round's means, the reward, a best arm); advances ``t``."""
        means = self.means_at(self.t)
        if self.reward_kind == "bernoulli":
            u = self._noise_rng.random(self.n_arms)  # one draw per arm per round: common random numbers
            reward = float(u[a] < means[a])
        else:
            z = self._noise_rng.standard_normal(self.n_arms)
            reward = float(means[a] + self.noise_std * z[a])
        self.t += 1
        if means is not self._best_of:  # means arrays are never changed in place: one argmax per array
            self._best_of, self._best = means, int(np.argmax(means))
        return means, reward, self._best

    @staticmethod
    def step_batch(envs: list[MeansBandit], actions: list[int]) -> list[tuple[float, float, float, int]]:
        """``step`` of several runs' envs (one action each), for the runner's batched path: per env (reward,
        expected reward, optimal expected reward, a best arm), exactly as ``step`` computes them, without
        building ``info``. Envs must have been reset (the runner steps each env once through its wrappers first)."""
        out = []
        for env, action in zip(envs, actions):
            a = int(action)
            if not 0 <= a < env.n_arms:
                raise ValueError(f"action must be an arm index in [0, {env.n_arms}), got {action!r}")
            means, reward, best = env._play(a)
            out.append((reward, float(means[a]), float(means[best]), best))
        return out


def two_level_means(n_arms: int, delta: float, best_arm: int) -> list[float]:
    """Krishnamurthy et al. instance: best arm 0.5 + Δ/2, the others 0.5 − Δ/2."""
    if n_arms < 2:
        raise ValueError(f"n_arms must be >= 2, got {n_arms}")
    if not 0 <= best_arm < n_arms:
        raise ValueError(f"best_arm must be in [0, {n_arms}), got {best_arm}")
    means = [0.5 - delta / 2] * n_arms
    means[best_arm] = 0.5 + delta / 2
    return means


BestArm = int | Literal["random"] | None


def fixed_best_arm(best_arm: BestArm, n_arms: int) -> int | None:
    """The fixed position ``best_arm`` names, or None when it is to be drawn per seed (``"random"`` or None)."""
    if best_arm is None or best_arm == "random":
        return None
    if isinstance(best_arm, bool) or not isinstance(best_arm, int) or not 0 <= best_arm < n_arms:
        raise ValueError(f"best_arm must be an arm index in [0, {n_arms}) or 'random', got {best_arm!r}")
    return best_arm


class TwoLevelStart(MeansBandit):
    """A bandit whose means start as a two-level instance (:func:`two_level_means`) with the best arm at a fixed or
    per-seed position, or at explicit ``means``.

    ``best_arm``: the best arm's position (0-based), or ``"random"`` / ``None`` (the default) to draw it uniformly
    per seed at ``reset`` -- from the dynamics stream, before any other dynamics draw, so the reward noise stays the
    same (common random numbers hold) and a fixed position's schedule is unchanged. A fixed position lets a
    model's preference for one button (often the first) pass for learning; reproduction configs that follow a
    paper set it explicitly. The position in play is ``best_arm_position`` (None with explicit ``means``) and each
    step's ``info["optimal_action"]`` (stored per step). ``best_arm`` cannot be combined with ``means``."""

    def __init__(self, means: list[float] | np.ndarray | None, n_arms: int, delta: float, best_arm: BestArm,
                 reward: RewardKind = "bernoulli", noise_std: float = 1.0, horizon: int | None = None) -> None:
        if means is not None and best_arm is not None:
            raise ValueError(f"give means or best_arm, not both (got means={list(means)}, best_arm={best_arm!r})")
        position = fixed_best_arm(best_arm, n_arms)
        super().__init__(two_level_means(n_arms, delta, position or 0) if means is None else means, reward,
                         noise_std, horizon=horizon)
        self.delta = delta
        self.best_arm = position
        self._draws_position = means is None and position is None
        self.best_arm_position: int | None = None if means is not None else position or 0

    def _init_dynamics(self) -> None:
        if self._draws_position:
            self.best_arm_position = int(self._dyn_rng.integers(self.n_arms))
            self.base_means = np.asarray(two_level_means(self.n_arms, self.delta, self.best_arm_position))
        self._means = self.base_means.copy()


class TwoLevelBandit(TwoLevelStart):
    """Bernoulli bandit with one best arm at 0.5 + Δ/2 and K−1 arms at 0.5 − Δ/2, the best arm at ``best_arm``
    (an index, or ``"random"`` / ``None``, the default, to draw it per seed: see :class:`TwoLevelStart`)."""

    def __init__(self, n_arms: int = 5, delta: float = 0.2, best_arm: BestArm = None,
                 horizon: int | None = None):
        super().__init__(None, n_arms, delta, best_arm, horizon=horizon)


class PiecewiseStationaryBandit(TwoLevelStart):
    """Means switch at change points: every ``period`` rounds, the means are permuted at random.

    The initial means are ``means``, else the hard two-level instance (K = 5, Δ = 0.2) with its best arm at
    ``best_arm`` (drawn per seed by default: see :class:`TwoLevelStart`); at each change point a fresh random
    permutation of the base means is drawn from the seed (so the best arm usually moves). ``change_points``
    (explicit round indices) overrides ``period``.
    """

    metadata = {**MeansBandit.metadata, "expobench.stationary": False}

    def __init__(
        self,
        means: list[float] | None = None,
        period: int = 50,
        change_points: list[int] | None = None,
        reward: RewardKind = "bernoulli",
        noise_std: float = 1.0,
        horizon: int | None = None,
        best_arm: BestArm = None,
    ) -> None:
        super().__init__(means, 5, 0.2, best_arm, reward, noise_std, horizon)
        if change_points is None and period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self.change_points = sorted(change_points) if change_points is not None else None

    def _init_dynamics(self) -> None:
        super()._init_dynamics()
        self._segments: list[np.ndarray] = [self.base_means.copy()]

    def _segment(self, t: int) -> int:
        if self.change_points is not None:
            return int(np.searchsorted(self.change_points, t, side="right"))
        return t // self.period

    def means_at(self, t: int) -> np.ndarray:
        k = self._segment(t)
        while len(self._segments) <= k:  # drawn in order, so they depend on the seed only
            self._segments.append(self._dyn_rng.permutation(self.base_means))
        return self._segments[k]


class DriftingBandit(TwoLevelStart):
    """Means follow independent bounded random walks: ``μ_{t+1} = clip(μ_t + σ_drift · N(0,1), low, high)``.

    They start at ``means``, else at the hard two-level instance (K = 5, Δ = 0.2) with its best arm at ``best_arm``
    (drawn per seed by default: see :class:`TwoLevelStart`)."""

    metadata = {**MeansBandit.metadata, "expobench.stationary": False}

    def __init__(
        self,
        means: list[float] | None = None,
        drift_std: float = 0.02,
        low: float = 0.05,
        high: float = 0.95,
        reward: RewardKind = "bernoulli",
        noise_std: float = 1.0,
        horizon: int | None = None,
        best_arm: BestArm = None,
    ) -> None:
        super().__init__(means, 5, 0.2, best_arm, reward, noise_std, horizon)
        if not low < high:
            raise ValueError(f"need low < high, got low={low}, high={high}")
        self.drift_std, self.low, self.high = float(drift_std), float(low), float(high)

    def _init_dynamics(self) -> None:
        super()._init_dynamics()
        self._path: list[np.ndarray] = [np.clip(self.base_means, self.low, self.high)]

    def means_at(self, t: int) -> np.ndarray:
        while len(self._path) <= t:
            step = self.drift_std * self._dyn_rng.standard_normal(self.n_arms)
            self._path.append(np.clip(self._path[-1] + step, self.low, self.high))
        return self._path[t]
