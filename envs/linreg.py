"""OPRO's linear-regression task (Yang et al. 2023; METHODS §4.2) as a Gymnasium environment.

Data: ``n_points`` x ~ U[-1, 1], ``y = w* x + b* + ε``, ε ~ N(0, σ²), drawn from ``instance_seed`` (not the reset
seed: every agent and run sees the same data). Action: a pair (w, b) (``Box(2,)``). Reward: −MSE of the pair on
the data. ``info``: ``loss`` (the MSE), ``expected_reward`` (= reward; the task is noise-free given the data),
``optimal_expected_reward`` (−MSE of the least-squares fit, the best any pair can do). The observation is a
constant 0: the agent keeps its own history.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

GROUND_TRUTHS = [(2, 30), (36, -1), (15, 14), (17, 17), (16, 10), (3, 5), (25, 23)]


class LinearRegressionEnv(gym.Env):
    """OPRO's linear regression: propose (w, b), reward −MSE on fixed data.

    Args:
        w_true, b_true: the generating line ``y = w_true·x + b_true + ε``.
        sigma: noise standard deviation of ε. n_points: data size. instance_seed: seed of the data (not of reset).
        bound: |w|, |b| limit of the action box.

    ``info``: ``loss`` (MSE), ``expected_reward`` (−MSE), ``optimal_expected_reward`` (−MSE of the least-squares
    fit).
    """

    metadata = {"render_modes": [], "expobench.metric": "best_loss"}  # headline metric (experiments.metrics)

    def __init__(self, w_true: float = 2.0, b_true: float = 30.0, sigma: float = 1.0, n_points: int = 50,
                 instance_seed: int = 0, bound: float = 1e4) -> None:
        if sigma < 0 or n_points < 2:
            raise ValueError(f"need sigma >= 0 and n_points >= 2, got sigma={sigma}, n_points={n_points}")
        rng = np.random.default_rng(instance_seed)
        self.x = rng.uniform(-1, 1, n_points)
        self.y = w_true * self.x + b_true + sigma * rng.standard_normal(n_points)
        self.w_true, self.b_true, self.sigma = float(w_true), float(b_true), float(sigma)
        a = np.stack([self.x, np.ones_like(self.x)], axis=1)
        self.w_opt, self.b_opt = np.linalg.lstsq(a, self.y, rcond=None)[0]
        self.optimal_loss = self.loss(self.w_opt, self.b_opt)
        self.action_space = spaces.Box(-bound, bound, shape=(2,), dtype=np.float64)
        self.observation_space = spaces.Discrete(1)

    def loss(self, w: float, b: float) -> float:
        return float(np.mean((self.y - (w * self.x + b)) ** 2))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        w, b = (float(v) for v in np.asarray(action, dtype=np.float64).reshape(2))
        loss = self.loss(w, b)
        info = {"loss": loss, "expected_reward": -loss, "optimal_expected_reward": -self.optimal_loss}
        return 0, -loss, False, False, info
