"""OPRO's traveling-salesman task (METHODS §4.3) with its exact optimum.

An instance: ``n`` points with coordinates ~ U[-100, 100]² from ``instance_seed``. Action: a tour, a permutation of
``0..n-1`` (``MultiDiscrete([n] * n)``); the tour is closed (returns to its first node). Reward: −length. A
non-permutation is invalid: reward ``-invalid_penalty`` (twice the longest possible tour), ``info["valid"]``
False. ``info``: ``length``, ``valid``, ``expected_reward`` (= reward), ``optimal_expected_reward`` (−optimal
length). The optimum comes from exact Held-Karp dynamic programming (vectorised over subsets; n = 20 takes
seconds) and is cached on disk per instance.
"""

from __future__ import annotations

import json
from itertools import permutations
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from expobench.settings import cache_root


def held_karp(dist: np.ndarray) -> tuple[float, list[int]]:
    """Exact shortest closed tour through all nodes of the distance matrix ``dist [n, n]``, starting at 0.

    dp[S, j] = shortest path from 0 through the set S (bits over nodes 1..n-1) ending at j; layers by |S|,
    vectorised over all sets of one size. O(2^n n²) time, O(2^n n) memory."""
    n = len(dist)
    if n <= 3:
        tour = list(range(n))
        return tour_length(dist, tour), tour
    m = n - 1
    size = 1 << m
    dp = np.full((size, m), np.inf)
    parent = np.full((size, m), -1, dtype=np.int8)
    for j in range(m):
        dp[1 << j, j] = dist[0, j + 1]
    masks = np.arange(size)
    popcount = np.array([bin(x).count("1") for x in range(size)]) if m <= 12 else \
        np.unpackbits(masks.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1).sum(1)
    inner = dist[1:, 1:]  # [m, m]: k -> j
    for s in range(2, m + 1):
        layer = masks[popcount == s]
        for j in range(m):
            sel = layer[(layer >> j) & 1 == 1]
            prev = sel ^ (1 << j)
            cand = dp[prev] + inner[:, j][None, :]  # [M, m] over predecessor k
            k = np.argmin(cand, axis=1)
            dp[sel, j] = cand[np.arange(len(sel)), k]
            parent[sel, j] = k
    full = size - 1
    last = int(np.argmin(dp[full] + dist[1:, 0]))
    best = float(dp[full, last] + dist[last + 1, 0])
    tour, mask, j = [], full, last
    while j >= 0:
        tour.append(j + 1)
        k = int(parent[mask, j])
        mask ^= 1 << j
        j = k
    return best, [0] + tour[::-1]


def tour_length(dist: np.ndarray, tour: list[int]) -> float:
    t = np.asarray(tour)
    return float(dist[t, np.roll(t, -1)].sum())


def brute_force(dist: np.ndarray) -> float:
    n = len(dist)
    return min(tour_length(dist, [0, *p]) for p in permutations(range(1, n)))


def instance(n: int, instance_seed: int) -> np.ndarray:
    return np.random.default_rng(instance_seed).uniform(-100, 100, size=(n, 2))


def optimal_tour(coords: np.ndarray, cache: bool = True) -> tuple[float, list[int]]:
    """Held-Karp optimum of an instance, cached under ``$EXPOBENCH_CACHE/tsp`` by the coordinates' hash."""
    import hashlib

    key = hashlib.sha256(np.ascontiguousarray(coords).tobytes()).hexdigest()[:24]
    path = cache_root() / "tsp" / f"{len(coords)}-{key}.json"
    if cache and path.exists():
        data = json.loads(path.read_text())
        return float(data["length"]), list(data["tour"])
    dist = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    length, tour = held_karp(dist)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"length": length, "tour": tour}))
    return length, tour


class TSPEnv(gym.Env):
    """OPRO's traveling salesman: propose a tour of ``n`` points, reward −length.

    Args:
        n: number of points (3..22; the exact optimum is computed by Held-Karp and cached).
        instance_seed: seed of the coordinates (uniform in [−100, 100]²).

    ``info``: ``length``, ``valid`` (False for a non-permutation, rewarded ``-invalid_penalty``),
    ``expected_reward`` (= reward), ``optimal_expected_reward`` (−optimal length).
    """

    metadata = {"render_modes": [], "expobench.metric": "optimality_gap"}  # headline metric (experiments.metrics)

    def __init__(self, n: int = 10, instance_seed: int = 0) -> None:
        if not 3 <= n <= 22:
            raise ValueError(f"n must be in [3, 22] (exact optimum by Held-Karp), got {n}")
        self.n = n
        self.coords = instance(n, instance_seed)
        self.dist = np.linalg.norm(self.coords[:, None] - self.coords[None], axis=-1)
        self.optimal_length, self.optimal_tour = optimal_tour(self.coords)
        self.invalid_penalty = 2.0 * n * float(self.dist.max())
        self.action_space = spaces.MultiDiscrete([n] * n)
        self.observation_space = spaces.Discrete(1)

    def is_tour(self, action: Any) -> bool:
        try:
            t = [int(v) for v in np.asarray(action).reshape(-1)]
        except (TypeError, ValueError):
            return False
        return sorted(t) == list(range(self.n))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        valid = self.is_tour(action)
        length = tour_length(self.dist, [int(v) for v in np.asarray(action).reshape(-1)]) if valid else float("inf")
        reward = -length if valid else -self.invalid_penalty
        info = {"length": length, "valid": valid, "expected_reward": reward,
                "optimal_expected_reward": -self.optimal_length}
        return 0, reward, False, False, info
