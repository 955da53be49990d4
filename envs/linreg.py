"""OPRO's linear-regression task (Yang et al. 2023; METHODS §4.2) as a Gymnasium environment, under two protocols.

``protocol="expo"`` (default; the EXPO paper's description): ``n_points`` x ~ U[-1, 1], ``y = w* x + b* + ε``,
ε ~ N(0, σ²); loss = mean squared error; warm start: ``n_warm_start`` pairs of uniform integers in [10, 20].

``protocol="opro"`` (OPRO's own script): x = 1, 2, ..., ``n_points``; ``y = w* x + b* + ε``, ε ~ N(0, σ²) (σ = 1
in OPRO); loss = sum of squared residuals. On this data the integer pair with the lowest loss is (w*, b*) (the
slope is pinned by Σx² and the intercept's error is the mean noise, sd σ/√n), so "finding the truth" is defined:
the env ends the episode (``terminated``) when the stepped action is exactly (w*, b*). Warm start: each
component ``round(U[10, 20])`` (10 and 20 half as likely as inner values), duplicates removed (may leave fewer than
``n_warm_start``). The headline metric is ``steps_to_truth`` (set per instance in ``metadata``).

Instances. ``instance_seed=None`` (default): every ``reset(seed=s)`` draws the data from ``s`` (the runner gives all
agents of one run seed the same env seed, so they share the instance; different seeds are different instances).
An int declares one instance shared by every seed. The noise never depends on (w*, b*). The warm start
(``warm_start`` after reset, shared by every agent of a seed) is drawn from the reset seed on a stream of its own,
independent of (w*, b*) and of the data: the same pairs for every ground truth of one seed. ``reset()`` without a
seed keeps the current instance and warm start; ``__init__`` leaves the instance of ``instance_seed`` (0 when None).

Action: a pair (w, b) (``Box(2,)``). Reward: −loss. ``info``: ``loss``, ``expected_reward`` (= reward; noise-free
given the data), ``optimal_expected_reward`` (−loss of the least-squares fit, the best any pair can do) and
``found`` (the action is exactly (w*, b*)). The observation is a constant 0: the agent keeps its own history.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from expobench.envs.instances import SeededInstanceEnv, check_protocol

GROUND_TRUTHS = [(2, 30), (36, -1), (15, 14), (17, 17), (16, 10), (3, 5), (25, 23)]
class LinearRegressionEnv(SeededInstanceEnv):
    """OPRO's linear regression: propose (w, b), reward −loss on the instance's data.

    Args:
        w_true, b_true: the generating line ``y = w_true·x + b_true + ε``.
        sigma: noise standard deviation of ε (OPRO: 1). n_points: data size (OPRO: 50).
        instance_seed: None (default) = each reset seed its own instance; an int = one instance for every seed.
        protocol: ``expo`` (x ~ U[−1, 1], MSE) or ``opro`` (x = 1..n, sum of squared residuals, ends on the truth).
        n_warm_start: warm-start pairs drawn per seed (``warm_start``). bound: |w|, |b| limit of the action box.

    ``info``: ``loss``, ``expected_reward`` (−loss), ``optimal_expected_reward`` (−loss of the least-squares fit),
    ``found`` (action == (w*, b*)).
    """

    metadata = {"render_modes": [], "expobench.metric": "best_loss"}  # headline metric (experiments.metrics)

    def __init__(self, w_true: float = 2.0, b_true: float = 30.0, sigma: float = 1.0, n_points: int = 50,
                 instance_seed: int | None = None, protocol: str = "expo", n_warm_start: int = 5,
                 bound: float = 1e4) -> None:
        if sigma < 0 or n_points < 2 or n_warm_start < 1:
            raise ValueError(f"need sigma >= 0, n_points >= 2, n_warm_start >= 1; got sigma={sigma}, "
                             f"n_points={n_points}, n_warm_start={n_warm_start}")
        self.protocol = check_protocol(protocol)
        if protocol == "opro":
            self.metadata = {**type(self).metadata, "expobench.metric": "steps_to_truth"}
        self.w_true, self.b_true, self.sigma = float(w_true), float(b_true), float(sigma)
        self.n_points = int(n_points)
        self.action_space = spaces.Box(-bound, bound, shape=(2,), dtype=np.float64)
        self.observation_space = spaces.Discrete(1)
        self.init_instance(instance_seed, n_warm_start)

    def _build(self, seed: int) -> None:
        """The data of instance ``seed`` and its least-squares optimum."""
        rng = np.random.default_rng(seed)
        if self.protocol == "opro":
            self.x = np.arange(1, self.n_points + 1, dtype=np.float64)
        else:
            self.x = rng.uniform(-1, 1, self.n_points)
        self.y = self.w_true * self.x + self.b_true + self.sigma * rng.standard_normal(self.n_points)
        self.instance = int(seed)
        a = np.stack([self.x, np.ones_like(self.x)], axis=1)
        self.w_opt, self.b_opt = (float(v) for v in np.linalg.lstsq(a, self.y, rcond=None)[0])
        self.optimal_loss = self.loss(self.w_opt, self.b_opt)

    def sample_warm_start(self, rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
        """``n`` warm-start pairs of the protocol from ``rng`` (opro: duplicates removed, so possibly fewer)."""
        if self.protocol == "opro":
            w, b = np.round(rng.uniform(10, 20, n)), np.round(rng.uniform(10, 20, n))
            return list(dict.fromkeys((float(wi), float(bi)) for wi, bi in zip(w, b)))
        return [(float(rng.integers(10, 21)), float(rng.integers(10, 21))) for _ in range(n)]

    def loss(self, w: float, b: float) -> float:
        """MSE (expo) or sum of squared residuals (opro) of the line ``w·x + b`` on the instance's data."""
        sq = (self.y - (w * self.x + b)) ** 2
        return float(np.sum(sq) if self.protocol == "opro" else np.mean(sq))

    def step(self, action):
        w, b = (float(v) for v in np.asarray(action, dtype=np.float64).reshape(2))
        loss = self.loss(w, b)
        found = w == self.w_true and b == self.b_true
        info = {"loss": loss, "expected_reward": -loss, "optimal_expected_reward": -self.optimal_loss,
                "found": found}
        return 0, -loss, bool(found and self.protocol == "opro"), False, info
