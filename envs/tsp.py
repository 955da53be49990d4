"""OPRO's traveling-salesman task (METHODS §4.3) with its exact optimum, under two protocols.

Coordinates: ``protocol="expo"`` (default) draws U[-100, 100]² and rounds them to ``decimals`` (default 0:
integers, rounded to nearest); ``protocol="opro"`` draws U[-100, 100] and truncates to integers, as OPRO does.
Either way ``coords`` holds exactly the numbers the prompt shows and the tours are scored on them (no rounding
between what the LLM reads and what is measured).

Instances. ``instance_seed=None`` (default): every ``reset(seed=s)`` draws the coordinates from ``s`` (all agents
of one run seed share the instance; different seeds are different instances); an int declares one instance for
every seed. The warm start (``warm_start`` after reset: ``n_warm_start`` distinct random tours from node 0; under
opro none of optimal length) is drawn from the reset seed on a stream of its own, so every agent of a seed starts
from the same tours. ``reset()`` without a seed keeps the instance; ``__init__`` leaves the instance of
``instance_seed`` (0 when None).

Action: a tour, a permutation of ``0..n-1`` (``MultiDiscrete([n] * n)``); the tour is closed (returns to its first
node). Reward: −length. A non-permutation is invalid: reward ``-invalid_penalty`` (twice the longest possible
tour), ``info["valid"]`` False. ``info``: ``length``, ``valid``, ``expected_reward`` (= reward),
``optimal_expected_reward`` (−optimal length of the current instance), ``found`` (a tour of optimal length, up to
1e-9 relative); under opro ``found`` ends the episode (``terminated``). The optimum comes from exact Held-Karp
dynamic programming (vectorised over subsets; n = 20 takes seconds) and is cached on disk per instance (keyed by
the coordinates).
"""

from __future__ import annotations

import json
from itertools import permutations
from typing import Any

import numpy as np
from gymnasium import spaces

from expobench.envs.instances import SeededInstanceEnv, check_protocol
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


def instance(n: int, instance_seed: int, protocol: str = "expo", decimals: int = 0) -> np.ndarray:
    """Coordinates ``[n, 2]`` of instance ``instance_seed``: expo, U[-100, 100]² rounded to ``decimals`` (what the
    prompt shows); opro, U[-100, 100] truncated to integers (all x first, then all y, as OPRO draws them)."""
    rng = np.random.default_rng(instance_seed)
    if protocol == "opro":
        xy = np.trunc(np.stack([rng.uniform(-100, 100, n), rng.uniform(-100, 100, n)], axis=1))
    else:
        xy = np.round(rng.uniform(-100, 100, size=(n, 2)), decimals)
    return xy + 0.0  # no negative zeros (the prompt would show "-0")


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


class TSPEnv(SeededInstanceEnv):
    """OPRO's traveling salesman: propose a tour of ``n`` points, reward −length.

    Args:
        n: number of points (3..22; the exact optimum is computed by Held-Karp and cached).
        instance_seed: None (default) = each reset seed its own instance; an int = one instance for every seed.
        protocol: ``expo`` (coordinates rounded to ``decimals``) or ``opro`` (integer coordinates, ends on the
            optimum). decimals: expo's coordinate precision (0: integers; opro is always 0).
        n_warm_start: random warm-start tours drawn per seed (``warm_start``).

    ``info``: ``length``, ``valid`` (False for a non-permutation, rewarded ``-invalid_penalty``),
    ``expected_reward`` (= reward), ``optimal_expected_reward`` (−optimal length), ``found`` (a tour of optimal
    length).
    """

    metadata = {"render_modes": [], "expobench.metric": "optimality_gap"}  # headline metric (experiments.metrics)

    def __init__(self, n: int = 10, instance_seed: int | None = None, protocol: str = "expo", decimals: int = 0,
                 n_warm_start: int = 5) -> None:
        if not 3 <= n <= 22:
            raise ValueError(f"n must be in [3, 22] (exact optimum by Held-Karp), got {n}")
        self.protocol = check_protocol(protocol)
        if not 0 <= decimals <= 6 or (protocol == "opro" and decimals != 0):
            raise ValueError(f"decimals: need 0..6 (and 0 under protocol opro: integer coordinates), got {decimals}")
        if n_warm_start < 1:
            raise ValueError(f"n_warm_start: need >= 1, got {n_warm_start}")
        self.n, self.decimals = n, int(decimals)
        self.action_space = spaces.MultiDiscrete([n] * n)
        self.observation_space = spaces.Discrete(1)
        self.init_instance(instance_seed, n_warm_start)

    def _build(self, seed: int) -> None:
        """Instance ``seed``: coordinates, distances, exact optimum (cached on disk), invalid-tour penalty."""
        self.instance = int(seed)
        self.coords = instance(self.n, seed, self.protocol, self.decimals)
        self.dist = np.linalg.norm(self.coords[:, None] - self.coords[None], axis=-1)
        self.optimal_length, self.optimal_tour = optimal_tour(self.coords)
        self.invalid_penalty = 2.0 * self.n * float(self.dist.max())

    def is_optimal(self, length: float) -> bool:
        return length <= self.optimal_length * (1 + 1e-9) + 1e-9

    def sample_warm_start(self, rng: np.random.Generator, k: int) -> list[list[int]]:
        """``k`` distinct random tours from node 0 (opro: none of optimal length, as OPRO excludes its optimum)."""
        tours: list[list[int]] = []
        n_distinct = 1
        for m in range(2, self.n):
            n_distinct *= m  # (n-1)! tours start at 0
        for _ in range(100 * k + 100):
            if len(tours) >= min(k, n_distinct):
                break
            t = [0, *(int(v) for v in rng.permutation(np.arange(1, self.n)))]
            if t in tours or (self.protocol == "opro" and self.is_optimal(tour_length(self.dist, t))):
                continue
            tours.append(t)
        return tours

    def is_tour(self, action: Any) -> bool:
        try:
            t = [int(v) for v in np.asarray(action).reshape(-1)]
        except (TypeError, ValueError):
            return False
        return sorted(t) == list(range(self.n))

    def step(self, action):
        valid = self.is_tour(action)
        length = tour_length(self.dist, [int(v) for v in np.asarray(action).reshape(-1)]) if valid else float("inf")
        reward = -length if valid else -self.invalid_penalty
        found = valid and self.is_optimal(length)
        info = {"length": length, "valid": valid, "expected_reward": reward,
                "optimal_expected_reward": -self.optimal_length, "found": found}
        return 0, reward, bool(found and self.protocol == "opro"), False, info
