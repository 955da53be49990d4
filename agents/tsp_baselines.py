"""Classical TSP references (METHODS §4.3): nearest neighbour, farthest insertion and 2-opt, as agents.

Tours are Python lists of ``int`` node indices, permutations of ``0..n-1`` rotated to start at 0 (closed: the last
node returns to the first). ``dist`` is always the symmetric ``[n, n]`` distance matrix of the instance.

- ``tsp_nearest_neighbour`` / ``tsp_farthest_insertion``: at step ``t`` the construction from start node
  ``t mod n`` -- a new construction each step, so the best-so-far metric tracks the best start.
- ``tsp_two_opt``: step 0 plays the nearest-neighbour tour from node 0; every later step applies
  ``max_passes_per_step`` 2-opt passes to the current tour and plays it. A pass evaluates all O(n²) 2-opt moves at
  once (numpy) and applies the best improving one (best improvement). When a step finds no improving move the
  current tour is a 2-opt local optimum: the agent restarts from a uniformly random tour (agent rng), plays it, and
  improves it on the following steps. ``best_tour`` / ``best_length`` keep the best tour found.

All agents need a TSP env (one with ``dist`` and ``n``, e.g. ``expobench/TSP-10-v0``) and draw randomness only from
the rng given to ``reset``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Agent, AgentParams, Decision, DecisionGen
from expobench.agents.registry import register_agent

_EPS = 1e-9  # a 2-opt move must shorten the tour by more than this to count (float noise is not an improvement)


def _rotate(tour: list[int] | np.ndarray) -> list[int]:
    """``tour`` as a list of ints rotated to start at node 0 (same closed tour)."""
    t = [int(v) for v in tour]
    k = t.index(0)
    return t[k:] + t[:k]


def _length(dist: np.ndarray, tour: list[int]) -> float:
    t = np.asarray(tour)
    return float(dist[t, np.roll(t, -1)].sum())


def nearest_neighbour_tour(dist: np.ndarray, start: int = 0) -> list[int]:
    """Greedy tour from ``start``: always move to the nearest unvisited node (ties: the lowest index).

    ``dist [n, n]``; returns a permutation of ``0..n-1`` rotated to start at 0."""
    n = len(dist)
    unvisited = np.ones(n, dtype=bool)
    tour = [int(start)]
    unvisited[start] = False
    for _ in range(n - 1):
        nxt = int(np.argmin(np.where(unvisited, dist[tour[-1]], np.inf)))
        tour.append(nxt)
        unvisited[nxt] = False
    return _rotate(tour)


def farthest_insertion_tour(dist: np.ndarray, start: int = 0) -> list[int]:
    """Farthest insertion from ``start``: begin with ``start`` and the node farthest from it, then repeatedly take
    the node farthest from the partial tour and insert it where it lengthens the tour least.

    ``dist [n, n]``; returns a permutation of ``0..n-1`` rotated to start at 0."""
    n = len(dist)
    if n <= 2:
        return list(range(n))
    far = int(np.argmax(dist[start]))
    tour = [int(start), far]
    in_tour = np.zeros(n, dtype=bool)
    in_tour[tour] = True
    near = np.minimum(dist[start], dist[far])  # [n]: distance of every node to the partial tour
    for _ in range(n - 2):
        k = int(np.argmax(np.where(in_tour, -np.inf, near)))
        t = np.asarray(tour)
        nxt = np.roll(t, -1)
        cost = dist[t, k] + dist[k, nxt] - dist[t, nxt]  # [len(tour)]: insert k between t[i] and t[i+1]
        tour.insert(int(np.argmin(cost)) + 1, k)
        in_tour[k] = True
        near = np.minimum(near, dist[k])
    return _rotate(tour)


def two_opt_deltas(dist: np.ndarray, tour: list[int]) -> np.ndarray:
    """Length change of every 2-opt move of ``tour`` (``n`` nodes), shape ``[n, n]``.

    Entry ``[i, j]`` (``i + 2 <= j``, not the pair (0, n-1), which shares node ``tour[0]``) is the change from
    reversing ``tour[i+1..j]``: edges (t_i, t_i+1), (t_j, t_j+1) become (t_i, t_j), (t_i+1, t_j+1). Every other entry
    is 0 (not a move)."""
    n = len(tour)
    t = np.asarray(tour)
    a, b = t, np.roll(t, -1)  # edge i: a[i] -> b[i]
    edge = dist[a, b]
    delta = dist[a[:, None], a[None, :]] + dist[b[:, None], b[None, :]] - edge[:, None] - edge[None, :]
    moves = np.triu(np.ones((n, n), dtype=bool), k=2)
    if n >= 3:
        moves[0, n - 1] = False
    return np.where(moves, delta, 0.0)


def two_opt_pass(dist: np.ndarray, tour: list[int]) -> tuple[list[int], bool]:
    """One best-improvement 2-opt pass: evaluate all moves (vectorised) and apply the best, if it shortens the
    tour by more than 1e-9. Returns (the tour rotated to start at 0, whether it improved)."""
    n = len(tour)
    if n < 4:  # every tour of <= 3 nodes has the same length
        return _rotate(tour), False
    delta = two_opt_deltas(dist, tour)
    i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
    if delta[i, j] >= -_EPS:
        return _rotate(tour), False
    t = [int(v) for v in tour]
    return _rotate(t[: i + 1] + t[i + 1: j + 1][::-1] + t[j + 1:]), True


def two_opt(dist: np.ndarray, tour: list[int], max_passes: int | None = None) -> list[int]:
    """2-opt local search from ``tour``: best-improvement passes until none improves (a 2-opt local optimum) or
    ``max_passes`` passes were made. Never lengthens the tour; returns it rotated to start at 0."""
    tour = _rotate(tour)
    passes = 0
    while max_passes is None or passes < max_passes:
        tour, improved = two_opt_pass(dist, tour)
        passes += 1
        if not improved:
            break
    return tour


class TSPAgent(Agent):
    """Shared state: the instance's ``dist [n, n]``, ``n``, the rng and the step counter ``t``."""

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        if not hasattr(env, "dist") or not hasattr(env, "n"):
            raise TypeError(f"{self.kind} needs a TSP env (expobench/TSP-*, with `dist` and `n`), got "
                            f"{type(env).__name__}")
        self.dist = np.asarray(env.dist, dtype=np.float64)
        self.n = int(env.n)
        self.rng = rng
        self.t = 0

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
    max_passes_per_step: int = Field(
        1, ge=1, description="Best-improvement 2-opt passes (each applies the best of all moves) per step.")


@register_agent
class TwoOptAgent(TSPAgent):
    """2-opt from the nearest-neighbour tour of node 0, with random restarts at local optima.

    The step record says what the step did: ``phase`` (``init``, ``improve`` or ``restart``), ``passes`` (improving
    passes made) and ``restarts`` (so far)."""

    kind = "tsp_two_opt"
    Params = TwoOptParams

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        self.tour: list[int] | None = None
        self.best_tour: list[int] | None = None
        self.best_length = float("inf")
        self.restarts = 0
        self._record: dict[str, Any] = {}

    def _random_tour(self) -> list[int]:
        return [0, *(int(v) for v in self.rng.permutation(np.arange(1, self.n)))]

    def act(self, observation: Any) -> list[int]:
        if self.tour is None:
            self.tour = nearest_neighbour_tour(self.dist, 0)
            phase, passes = "init", 0
        else:
            passes = 0
            for _ in range(self.params.max_passes_per_step):
                self.tour, improved = two_opt_pass(self.dist, self.tour)
                if not improved:
                    break
                passes += 1
            phase = "improve"
            if passes == 0:  # 2-opt local optimum: restart from a random tour
                self.tour = self._random_tour()
                self.restarts += 1
                phase = "restart"
        length = _length(self.dist, self.tour)
        if length < self.best_length:
            self.best_tour, self.best_length = list(self.tour), length
        self._record = {"phase": phase, "passes": passes, "restarts": self.restarts}
        return list(self.tour)

    def decide(self, observation: Any) -> DecisionGen:
        action = self.act(observation)
        return Decision(action, dict(self._record))
        yield  # pragma: no cover  (makes this a generator)
