"""Black-box optimisation on BoTorch's synthetic test functions (METHODS §4.4), maximised.

``BlackBoxEnv(function, dim, noise_std, decimals, n_initial)`` wraps ``botorch.test_functions`` (Branin,
Hartmann, Ackley, Rosenbrock, Levy) with ``negate=True``, so the reward is ``-f(x)`` and the optimum is the
function's documented ``optimal_value`` (negated) -- carried by the problem, not hand-written.

Action: a point in the function's box, float vector of shape ``[d]`` in the parameter order ``x1..xd``
(``Box(low, high)``). A point outside the box raises ``ValueError`` (agents validate before stepping; see
``expobench.envs.search_space``). Reward: ``-f(x) + ε``, ε ~ N(0, noise_std²) from the env's seeded generator (0 by default).
``info``: ``value`` (``f(x)`` noise-free, lower is better), ``expected_reward`` (``-f(x)``),
``optimal_expected_reward`` (``-f*``). The observation is a constant 0: agents keep their own history.

Warm start: :meth:`initial_points` gives ``n_initial`` scrambled-Sobol points fixed by a seed; :meth:`reset` stores
those of its seed in ``warm_start`` so every agent of one run seed (common env seed) starts from the same points.
``decimals`` is the grid LLM agents write points on (rendering and parsing round to it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from expobench.envs.search_space import Param, SearchSpace

FUNCTIONS = ("branin", "hartmann", "ackley", "rosenbrock", "levy")


def make_problem(function: str, dim: int | None) -> Any:
    """The negated BoTorch test problem; ``dim`` None takes the function's usual dimension."""
    from botorch.test_functions import Ackley, Branin, Hartmann, Levy, Rosenbrock

    if function == "branin":
        if dim not in (None, 2):
            raise ValueError(f"dim: branin is 2-dimensional, got {dim}")
        return Branin(negate=True)
    classes = {"hartmann": (Hartmann, 6), "ackley": (Ackley, 2), "rosenbrock": (Rosenbrock, 2), "levy": (Levy, 2)}
    if function not in classes:
        raise ValueError(f"function: unknown {function!r}; allowed: {', '.join(FUNCTIONS)}")
    cls, default = classes[function]
    try:
        return cls(dim=dim or default, negate=True)
    except (ValueError, NotImplementedError) as e:
        raise ValueError(f"dim: {function} does not support dim={dim}: {e}") from None


def sobol_points(space: SearchSpace, n: int, seed: int) -> np.ndarray:
    """``n`` scrambled-Sobol points of ``space`` fixed by ``seed``, shape ``[n, d]``."""
    import warnings

    from scipy.stats import qmc

    with warnings.catch_warnings():  # n need not be a power of 2 for a handful of initial points
        warnings.simplefilter("ignore", UserWarning)
        u = qmc.Sobol(space.dim, scramble=True, seed=seed).random(n)
    return space.from_unit(u)


class BlackBoxEnv(gym.Env):
    """Maximise ``-f(x)`` for a BoTorch test function ``f`` over its box.

    Args:
        function: ``branin``, ``hartmann``, ``ackley``, ``rosenbrock`` or ``levy``. dim: its dimension (where free).
        noise_std: std of Gaussian noise on the reward. decimals: grid of LLM-written points.
        n_initial: Sobol warm-start points per seed (``warm_start`` after reset).

    ``info``: ``value`` (noise-free ``f(x)``), ``expected_reward`` (``-f(x)``), ``optimal_expected_reward``
    (``-f*``, from the problem's ``optimal_value``).
    """

    metadata = {"render_modes": [], "expobench.metric": "simple_regret"}  # headline metric (experiments.metrics)

    def __init__(self, function: str = "branin", dim: int | None = None, noise_std: float = 0.0,
                 decimals: int = 3, n_initial: int = 5) -> None:
        if noise_std < 0 or decimals < 0 or n_initial < 0:
            raise ValueError(f"need noise_std, decimals, n_initial >= 0; got {noise_std}, {decimals}, {n_initial}")
        self.function = function
        self.problem = make_problem(function, dim)
        self.dim = int(self.problem.dim)
        bounds = self.problem.bounds.numpy().astype(np.float64)
        self.space = SearchSpace([Param(f"x{i + 1}", float(lo), float(hi)) for i, (lo, hi) in
                                  enumerate(bounds.T)])
        self.noise_std = float(noise_std)
        self.decimals = int(decimals)
        self.n_initial = int(n_initial)
        self.optimal_value = -float(self.problem.optimal_value)  # f*, lower is better
        self.action_space = spaces.Box(self.space.low, self.space.high, dtype=np.float64)
        self.observation_space = spaces.Discrete(1)
        self.warm_start = self.initial_points(0)

    def value(self, x: Any) -> float:
        """Noise-free ``f(x)`` (lower is better) of a valid point; ``evaluate_true`` is the un-negated function."""
        import torch

        err = self.space.check(x)
        if err is not None:
            raise ValueError(f"action: {err}")
        with torch.no_grad():
            return float(self.problem.evaluate_true(torch.as_tensor(np.asarray(x, np.float64))[None])[0])

    def initial_points(self, seed: int) -> np.ndarray:
        """``[n_initial, d]`` points fixed by ``seed``, rounded to ``decimals``."""
        pts = sobol_points(self.space, self.n_initial, seed) if self.n_initial else np.zeros((0, self.dim))
        return np.clip(np.round(pts, self.decimals), self.space.low, self.space.high)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.warm_start = self.initial_points(0 if seed is None else seed)
        return 0, {}

    def step(self, action):
        v = self.value(np.asarray(action, dtype=np.float64).reshape(-1))
        noise = self.noise_std * float(self.np_random.standard_normal()) if self.noise_std else 0.0
        info = {"value": v, "expected_reward": -v, "optimal_expected_reward": -self.optimal_value}
        return 0, -v + noise, False, False, info


BO_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    "expobench/BO-Branin-v0": ("expobench.envs.blackbox:BlackBoxEnv", {"function": "branin"}),
    "expobench/BO-Hartmann6-v0": ("expobench.envs.blackbox:BlackBoxEnv", {"function": "hartmann", "dim": 6}),
    "expobench/BO-Ackley2-v0": ("expobench.envs.blackbox:BlackBoxEnv", {"function": "ackley", "dim": 2}),
    "expobench/BO-Rosenbrock2-v0": ("expobench.envs.blackbox:BlackBoxEnv", {"function": "rosenbrock", "dim": 2}),
    "expobench/BO-Levy2-v0": ("expobench.envs.blackbox:BlackBoxEnv", {"function": "levy", "dim": 2}),
}
