"""Classical TSP references (METHODS §4.3): nearest neighbour, farthest insertion and 2-opt, as agents.

Tours are lists of node indices, permutations of ``0..n-1`` rotated to start at 0 (closed: the last node returns to
the first). The construction agents play, at step ``t``, the tour built from start node ``t mod n`` -- a new
construction each step, so the best-so-far metric tracks the best start. ``tsp_two_opt`` starts from the
nearest-neighbour tour of node 0 and applies ``max_passes_per_step`` best-improvement 2-opt passes per step; at a
local optimum it restarts from a random tour (agent rng) and keeps the best tour found.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from agents.base import Agent, AgentParams
from agents.registry import register_agent


def _rotate(tour: list[int]) -> list[int]:
    k = tour.index(0)
    return tour[k:] + tour[:k]


def nearest_neighbour_tour(dist: np.ndarray, start: int = 0) -> list[int]:
    """Greedy tour from ``start``: always go to the nearest unvisited node. ``dist`` is ``[n, n]``."""
    n = len(dist)
    unvisited = np.ones(n, dtype=bool)
    tour = [start]
    unvisited[start] = False
    for _ in range(n - 1):
        d = np.where(unvisited, dist[tour[-1]], np.inf)
        nxt = int(np.argmin(d))
        tour.append(nxt)
        unvisited[nxt] = False
    return _rotate(tour)


def farthest_insertion_tour(dist: np.ndarray, start: int = 0) -> list[int]:
    """Farthest insertion: repeatedly take the node farthest from the tour and insert it where it lengthens the
    tour least."""
    n = len(dist)
    if n <= 2:
        return list(range(n))
    far = int(np.argmax(dist[start]))
    tour = [start, far]
    in_tour = np.zeros(n, dtype=bool)
    in_tour[tour] = True
    near = np.minimum(dist[start], dist[far])  # distance of every node to the tour
    for _ in range(n - 2):
        k = int(np.argmax(np.where(in_tour, -np.inf, near)))
        t = np.asarray(tour)
        nxt = np.roll(t, -1)
        cost = dist[t, k] + dist[k, nxt] - dist[t, nxt]
        pos = int(np.argmin(cost))
        tour.insert(pos + 1, k)
        in_tour[k] = True
        near = np.minimum(near, dist[k])
    return _rotate(tour)


def two_opt_pass(dist: np.ndarray, tour: list[int]) -> tuple[list[int], bool]:
    """One best-improvement 2-opt move (reverse the segment ``tour[i+1..j]``), vectorised over all (i, j).
    Returns the tour and whether it improved."""
    n = len(tour)
    if n < 4:
        return tour, False
    t = np.asarray(tour)
    a, b = t, np.roll(t, -1)  # edge i: a[i] -> b[i]
    # gain of replacing edges (a_i, b_i), (a_j, b_j) by (a_i, a_j), (b_i, b_j), for i < j
    delta = dist[a[:, None], a[None, :]] + dist[b[:, None], b[None, :]] - dist[a, b][:, None] - dist[a, b][None, :]
    iu = np.triu(np.ones((n, n), dtype=bool), k=2)
    iu[0, n - 1] = False  # edges 0 and n-1 share node t[0]
    delta = np.where(iu, delta, 0.0)
    i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
    if delta[i, j] >= -1e-9:
        return tour, False
    new = list(t[: i + 1]) + list(t[i + 1: j + 1][::-1]) + list(t[j + 1:])
    return _rotate([int(v) for v in new]), True


def two_opt(dist: np.ndarray, tour: list[int], max_passes: int | None = None) -> list[int]:
    """2-opt local search from ``tour``: improving moves until none is left (or ``max_passes``)."""
    passes = 0
    improved = True
    while improved and (max_passes is None or passes < max_passes):
        tour, improved = two_opt_pass(dist, tour)
        passes += 1
    return tour


class TSPAgent(Agent):
    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        if not hasattr(env, "dist") or not hasattr(env, "n"):
            raise TypeError(f"{self.kind} needs a TSP env (expobench/TSP-*), got {type(env).__name__}")
        self.dist, self.n, self.rng, self.t = env.dist, int(env.n), rng, 0

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        self.t += 1


@register_agent
class NearestNeighbourAgent(TSPAgent):
    """Nearest-neighbour tour from start node ``t mod n`` at step ``t``."""

    kind = "tsp_nearest_neighbour"

    def act(self, observation: Any) -> list[int]:
        return nearest_neighbour_tour(self.dist, self.t % self.n)


@register_agent
class FarthestInsertionAgent(TSPAgent):
    """Farthest-insertion tour from start node ``t mod n`` at step ``t``."""

    kind = "tsp_farthest_insertion"

    def act(self, observation: Any) -> list[int]:
        return farthest_insertion_tour(self.dist, self.t % self.n)


class TwoOptParams(AgentParams):
    max_passes_per_step: int = Field(1, ge=1, description="2-opt moves applied per step.")


@register_agent
class TwoOptAgent(TSPAgent):
    """2-opt from the nearest-neighbour tour; random restarts at local optima."""

    kind = "tsp_two_opt"
    Params = TwoOptParams

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        self.tour: list[int] | None = None

    def act(self, observation: Any) -> list[int]:
        if self.tour is None:
            self.tour = nearest_neighbour_tour(self.dist, 0)
            return self.tour
        improved = False
        for _ in range(self.params.max_passes_per_step):
            self.tour, step_improved = two_opt_pass(self.dist, self.tour)
            improved |= step_improved
            if not step_improved:
                break
        if not improved:  # local optimum: restart from a random tour
            self.tour = [0, *(int(v) for v in self.rng.permutation(np.arange(1, self.n)))]
        return self.tour
