"""Tabular episodic MDPs with a known model: Gymnasium's toy-text grid worlds and two exploration-hard chains.

Contract (all classes, :class:`TabularMDPEnv`):

- ``observation_space = Discrete(S)`` (the state index), ``action_space = Discrete(A)``.
- One env instance runs **consecutive episodes** of at most ``episode_length`` (H) steps inside one run: an
  episode ends when a transition is terminal (a hole, the goal, a delivered passenger) or after H steps, and the
  env resets itself (the observation returned is the next episode's start state). ``terminated`` and
  ``truncated`` are always False: the run lasts as many decisions as the experiment's ``horizon``.
- The oracle is finite-horizon value iteration on the known model (:func:`solve`): ``V*_h(s)`` and
  ``Q*_h(s, a)`` for the h-th step of an episode (h = 0..H-1). Every step's ``info`` carries
  ``expected_reward = Q*_h(s, a)`` and ``optimal_expected_reward = V*_h(s)``, so the runner's cumulative regret
  is Σ_t [V*_h(s_t) − Q*_h(s_t, a_t)] -- the action gaps along the visited states, which sum over an episode to
  V*_0(s_0) − V^π_0(s_0) in expectation (expected, not realised). Also ``optimal_action`` (a maximiser),
  ``optimal_value``, ``action_gap``, ``state``, ``next_state``, ``episode`` (0-based), ``episode_step`` (h),
  ``terminal`` (the model's terminal outcome) and ``episode_end``; on the step that ends an episode also
  ``episode_return`` (realised), ``episode_goal`` (the goal was reached), ``episode_optimal_value`` (V*_0 of the
  episode's start state) and ``episode_score`` (the return normalised to [0, 1] between the worst and the best
  policy's expected return from that start, :meth:`TabularMDPEnv.normalised_return`).
- Randomness comes from ``reset(seed=...)`` only, in two streams: episode start states (the k-th start depends on
  the seed and k) and two uniforms per step (outcome and reward noise), drawn whatever the agent does.

Dynamics of the Gymnasium envs are read from the Gymnasium env itself (its ``P`` table and start distribution),
not copied.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

RewardNoise = Literal["none", "bernoulli"]


@dataclass(frozen=True)
class TabularModel:
    """Outcome tables of an MDP with ``S`` states, ``A`` actions and at most ``K`` outcomes per (s, a).

    ``probs [S, A, K]`` (rows sum to 1; padding has probability 0), ``next_states [S, A, K]`` (int),
    ``rewards [S, A, K]`` (the outcome's mean reward), ``dones [S, A, K]`` (the outcome ends the episode),
    ``goals [S, A, K]`` (the outcome counts as reaching the goal), ``start [S]`` (start distribution).
    ``reward_noise``: ``none`` (the reward is the mean) or ``bernoulli`` (reward ~ Bernoulli(mean), means in
    [0, 1])."""

    probs: np.ndarray
    next_states: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    goals: np.ndarray
    start: np.ndarray
    reward_noise: RewardNoise = "none"

    def __post_init__(self) -> None:
        S, A, K = self.probs.shape
        for name in ("next_states", "rewards", "dones", "goals"):
            if getattr(self, name).shape != (S, A, K):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {(S, A, K)}")
        if not np.allclose(self.probs.sum(-1), 1.0):
            raise ValueError("outcome probabilities of every (s, a) must sum to 1")
        if self.start.shape != (S,) or not np.isclose(self.start.sum(), 1.0):
            raise ValueError("start must be a distribution over the S states")
        if self.reward_noise == "bernoulli" and ((self.rewards < 0) | (self.rewards > 1)).any():
            raise ValueError("Bernoulli reward means must lie in [0, 1]")

    @property
    def n_states(self) -> int:
        return self.probs.shape[0]

    @property
    def n_actions(self) -> int:
        return self.probs.shape[1]

    @cached_property
    def mean_reward(self) -> np.ndarray:
        """``R[s, a]`` = expected reward, shape [S, A]."""
        return (self.probs * self.rewards).sum(-1)

    @cached_property
    def continuation(self) -> np.ndarray:
        """``P[s, a, s']`` = probability of moving to s' without the episode ending, shape [S, A, S] (rows sum to
        1 minus the termination probability)."""
        S, A, _ = self.probs.shape
        P = np.zeros((S, A, S))
        live = self.probs * ~self.dones
        s_idx, a_idx = np.meshgrid(np.arange(S), np.arange(A), indexing="ij")
        for k in range(self.probs.shape[2]):
            np.add.at(P, (s_idx, a_idx, self.next_states[:, :, k]), live[:, :, k])
        return P

    @classmethod
    def from_gym_table(cls, P: dict, start: np.ndarray, goal: Any) -> TabularModel:
        """From a Gymnasium toy-text table ``P[s][a] = [(prob, next, reward, done), ...]``; ``goal(next, reward,
        done) -> bool`` flags the outcomes that reach the goal."""
        S, A = len(P), len(P[0])
        K = max(len(P[s][a]) for s in range(S) for a in range(A))
        arrays = {n: np.zeros((S, A, K), dtype=t) for n, t in
                  (("probs", float), ("next_states", int), ("rewards", float), ("dones", bool), ("goals", bool))}
        for s in range(S):
            for a in range(A):
                for k, (p, nxt, r, done) in enumerate(P[s][a]):
                    arrays["probs"][s, a, k] = p
                    arrays["next_states"][s, a, k] = int(nxt)
                    arrays["rewards"][s, a, k] = r
                    arrays["dones"][s, a, k] = bool(done)
                    arrays["goals"][s, a, k] = bool(goal(int(nxt), float(r), bool(done)))
                arrays["next_states"][s, a, len(P[s][a]):] = s  # padding: probability 0
        return cls(start=np.asarray(start, dtype=float), **arrays)


def solve(model: TabularModel, horizon: int, minimize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Finite-horizon value iteration (backward induction): ``V [H + 1, S]`` (V[H] = 0) and ``Q [H, S, A]`` with
    ``Q[h, s, a] = R[s, a] + Σ_s' P[s, a, s'] V[h + 1, s']``; ``V[h] = max_a Q[h]`` (``min`` with ``minimize``:
    the worst policy's values, used to normalise returns)."""
    return backward_induction(model.mean_reward, model.continuation, horizon, minimize)


def backward_induction(R: np.ndarray, P: np.ndarray, horizon: int, minimize: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve` on explicit arrays ``R [S, A]`` and ``P [S, A, S]`` (sub-stochastic: missing mass ends the
    episode); agents plan on sampled or optimistic models with it."""
    S, A = R.shape
    V = np.zeros((horizon + 1, S))
    Q = np.zeros((horizon, S, A))
    for h in range(horizon - 1, -1, -1):
        Q[h] = R + P @ V[h + 1]
        V[h] = Q[h].min(1) if minimize else Q[h].max(1)
    return V, Q


class TabularMDPEnv(gym.Env, metaclass=ABCMeta):
    """An episodic MDP with a known model, run as consecutive episodes (see the module docstring).

    Subclasses build the model and name the actions (``action_names``) and describe states for the text task
    (:meth:`state_label`, :meth:`render_state`, :meth:`task_text`)."""

    metadata = {"render_modes": [], "expobench.metric": "cumulative_regret"}
    #: names of the actions, in index order (the LLM agent answers with them)
    action_names: tuple[str, ...] = ()
    #: short name of the task family (text and plots)
    family: str = "MDP"

    def __init__(self, model: TabularModel, episode_length: int) -> None:
        if episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        if len(self.action_names) != model.n_actions:
            raise ValueError(f"{type(self).__name__} names {len(self.action_names)} actions, the model has "
                             f"{model.n_actions}")
        self.model = model
        self.episode_length = int(episode_length)
        self.n_states, self.n_actions = model.n_states, model.n_actions
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(self.n_actions)
        self.V, self.Q = solve(model, self.episode_length)
        self.V_min, _ = solve(model, self.episode_length, minimize=True)
        self.reward_kind = "bernoulli" if model.reward_noise == "bernoulli" or (
            np.isin(model.rewards[model.probs > 0], (0.0, 1.0)).all()) else "gaussian"
        live = model.probs > 0
        self.reward_bounds = (float(model.rewards[live].min()), float(model.rewards[live].max()))
        self.state = 0  # until reset: the first state, episode and step (text rendering needs no reset)
        self.episode = 0
        self.h = 0

    # -- oracle ----------------------------------------------------------------------------------------------
    def optimal_action(self, h: int, s: int) -> int:
        """The lowest-index maximiser of ``Q*_h(s, ·)``."""
        return int(np.argmax(self.Q[h, s]))

    def normalised_return(self, episode_return: float, start: int) -> float:
        """``(G − V_min) / (V* − V_min)`` at the episode's start state (1 when every policy is equally good): 1
        for the optimal expected return, 0 for the worst policy's; equals G / V* when the worst policy gets 0
        (FrozenLake). Realised returns may leave [0, 1]."""
        best, worst = self.V[0, start], self.V_min[0, start]
        return 1.0 if best - worst <= 1e-12 else float((episode_return - worst) / (best - worst))

    # -- Gymnasium API ---------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        start_seed, step_seed = self.np_random.integers(0, 2**63 - 1, size=2)
        self._start_rng = np.random.default_rng(int(start_seed))
        self._step_rng = np.random.default_rng(int(step_seed))
        self.episode = 0
        self._begin_episode()
        return self.state, {"episode": 0, "episode_step": 0}

    def _begin_episode(self) -> None:
        self.state = int(self._start_rng.choice(self.n_states, p=self.model.start))
        self.episode_start = self.state
        self.h = 0
        self.episode_return = 0.0
        self.episode_goal = False

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an index in [0, {self.n_actions}) ({', '.join(self.action_names)}), "
                             f"got {action!r}")
        a, s, h, m = int(action), self.state, self.h, self.model
        u_outcome, u_reward = self._step_rng.random(2)  # two draws per step, whatever happens
        k = min(int(np.searchsorted(np.cumsum(m.probs[s, a]), u_outcome, side="right")), m.probs.shape[2] - 1)
        while m.probs[s, a, k] == 0:  # float round-off at the top of the cumulative sum
            k -= 1
        mean = float(m.rewards[s, a, k])
        reward = float(u_reward < mean) if m.reward_noise == "bernoulli" else mean
        nxt, terminal = int(m.next_states[s, a, k]), bool(m.dones[s, a, k])
        self.episode_return += reward
        self.episode_goal |= bool(m.goals[s, a, k])
        q, v = float(self.Q[h, s, a]), float(self.V[h, s])
        info: dict[str, Any] = {
            "expected_reward": q, "optimal_expected_reward": v, "optimal_action": self.optimal_action(h, s),
            "optimal_value": v, "action_gap": v - q, "state": s, "next_state": nxt, "episode": self.episode,
            "episode_step": h, "terminal": terminal,
        }
        self.h += 1
        end = terminal or self.h >= self.episode_length
        info["episode_end"] = end
        if end:
            info.update(episode_return=self.episode_return, episode_goal=self.episode_goal,
                        episode_optimal_value=float(self.V[0, self.episode_start]),
                        episode_score=self.normalised_return(self.episode_return, self.episode_start))
            self.episode += 1
            self._begin_episode()
        else:
            self.state = nxt
        return self.state, reward, False, False, info

    # -- text (the LLM task) ---------------------------------------------------------------------------------
    def state_label(self, s: int) -> str:
        """A short name of state ``s`` for histories (e.g. ``(row 2, col 3)``)."""
        return f"state {s}"

    def render_state(self, s: int) -> str:
        """A description of state ``s`` shown with the question (grid worlds: a map with the agent's cell)."""
        return f"You are in {self.state_label(s)}."

    @abstractmethod
    def task_text(self) -> str:
        """What the world is and what pays (the task description's middle, without framing)."""


# -- Gymnasium toy-text worlds ---------------------------------------------------------------------------------
def _gym_unwrapped(env_id: str, **kwargs: Any) -> gym.Env:
    return gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped


class GridMixin:
    """Row/column labels and map rendering for grid worlds with ``n_cols`` columns (states are row-major)."""

    n_cols: int
    grid: list[list[str]]
    legend: str

    def state_label(self, s: int) -> str:
        return f"(row {s // self.n_cols + 1}, col {s % self.n_cols + 1})"

    def render_state(self, s: int) -> str:
        rows = [list(r) for r in self.grid]
        rows[s // self.n_cols][s % self.n_cols] = "*"
        text = "\n".join(" ".join(r) for r in rows)
        return (f"Map (row 1 at the top, col 1 at the left; {self.legend}, * you):\n{text}\n"
                f"You are at {self.state_label(s)}.")


class FrozenLakeMDP(GridMixin, TabularMDPEnv):
    """Gymnasium's FrozenLake (``map_name`` 4x4 or 8x8, slippery or not): reward 1 on reaching the goal G; a hole
    H or the goal ends the episode. Slippery: the intended move happens with probability 1/3, each perpendicular
    move with 1/3."""

    action_names = ("left", "down", "right", "up")
    family = "FrozenLake"
    legend = "S start, F frozen, H hole, G goal"

    def __init__(self, map_name: str = "4x4", is_slippery: bool = False, episode_length: int = 16) -> None:
        if map_name not in ("4x4", "8x8"):
            raise ValueError(f"map_name must be '4x4' or '8x8', got {map_name!r}")
        inner = _gym_unwrapped("FrozenLake-v1", map_name=map_name, is_slippery=is_slippery)
        self.grid = [[c.decode() for c in row] for row in inner.desc]
        self.n_cols = len(self.grid[0])
        self.is_slippery = is_slippery
        super().__init__(TabularModel.from_gym_table(inner.P, inner.initial_state_distrib,
                                                     lambda nxt, r, done: r > 0), episode_length)

    def task_text(self) -> str:
        n = self.n_cols
        slip = ("The ice is slippery: a move goes in the chosen direction only one time in three, otherwise to one "
                "of the two sides." if self.is_slippery else "Moves are exact.")
        return (f"You walk on a frozen lake, a {n}x{n} grid of cells. You start at S and must reach the goal G. "
                f"Falling into a hole H ends the episode with nothing; reaching G pays a reward of 1 and ends the "
                f"episode. Every other step pays 0; a move into the edge leaves you where you are. {slip} An "
                f"episode lasts at most {self.episode_length} steps.")


class CliffWalkingMDP(GridMixin, TabularMDPEnv):
    """Gymnasium's CliffWalking (4 × 12): −1 per step, −100 and back to the start for stepping onto the cliff;
    reaching G ends the episode."""

    action_names = ("up", "right", "down", "left")
    family = "CliffWalking"
    legend = "S start, . ground, C cliff, G goal"

    def __init__(self, episode_length: int = 20) -> None:
        inner = _gym_unwrapped("CliffWalking-v1")
        rows, cols = inner.shape
        goal = rows * cols - 1
        self.n_cols = cols
        self.grid = [["."] * cols for _ in range(rows)]
        self.grid[rows - 1] = ["S"] + ["C"] * (cols - 2) + ["G"]
        super().__init__(TabularModel.from_gym_table(inner.P, inner.initial_state_distrib,
                                                     lambda nxt, r, done: nxt == goal), episode_length)

    def task_text(self) -> str:
        return ("You walk on a 4x12 grid along a cliff. You start at S (bottom left) and must reach the goal G "
                "(bottom right). Every step costs 1 (reward -1); stepping onto a cliff cell C costs 100 (reward "
                "-100) and sends you back to S. Reaching G ends the episode; a move into the edge leaves you where "
                f"you are. An episode lasts at most {self.episode_length} steps.")


class TaxiMDP(TabularMDPEnv):
    """Gymnasium's Taxi (5 × 5, 500 states): −1 per step, +20 for delivering the passenger (ends the episode),
    −10 for an illegal pickup or dropoff."""

    action_names = ("south", "north", "east", "west", "pickup", "dropoff")
    family = "Taxi"
    _LOCS = ("R", "G", "Y", "B")

    def __init__(self, episode_length: int = 25) -> None:
        inner = _gym_unwrapped("Taxi-v4")
        self._inner = inner
        self.desc = [[c.decode() for c in row] for row in inner.desc]
        self.locs = list(inner.locs)
        super().__init__(TabularModel.from_gym_table(inner.P, inner.initial_state_distrib,
                                                     lambda nxt, r, done: r > 0 and done), episode_length)

    def decode(self, s: int) -> tuple[int, int, int, int]:
        """(taxi row, taxi col, passenger location 0-3 or 4 = in the taxi, destination 0-3)."""
        return tuple(int(x) for x in self._inner.decode(s))  # type: ignore[return-value]

    def state_label(self, s: int) -> str:
        r, c, p, d = self.decode(s)
        where = "in the taxi" if p == 4 else f"at {self._LOCS[p]}"
        return f"(taxi row {r + 1}, col {c + 1}; passenger {where}; destination {self._LOCS[d]})"

    def render_state(self, s: int) -> str:
        r, c, p, d = self.decode(s)
        rows = [list(row) for row in self.desc]
        rows[1 + r][2 * c + 1] = "*"
        where = "in the taxi" if p == 4 else f"waiting at {self._LOCS[p]}"
        return ("Map (row 1 at the top; | is a wall, : no wall; R, G, Y, B the four stands; * the taxi):\n"
                + "\n".join("".join(row) for row in rows)
                + f"\nThe taxi is at row {r + 1}, col {c + 1}. The passenger is {where}; the destination is "
                  f"{self._LOCS[d]}.")

    def task_text(self) -> str:
        return ("You drive a taxi in a 5x5 town with four stands R, G, Y and B. A passenger waits at one stand and "
                "wants to go to another. Drive there (south, north, east, west; walls | block moves), pick the "
                "passenger up, drive to the destination and drop them off. Every step costs 1 (reward -1); a "
                "pickup or dropoff at the wrong place costs 10; delivering the passenger pays 20 and ends the "
                f"episode. An episode lasts at most {self.episode_length} steps.")


# -- exploration-hard chains ---------------------------------------------------------------------------------------
class RiverSwimMDP(TabularMDPEnv):
    """RiverSwim (Strehl & Littman 2008; the episodic version of Osband et al. 2013): a chain of ``n_states``
    positions, start at the left bank (position 1). ``left`` always moves one position left (or stays at the bank)
    and pays a Bernoulli(0.005) reward at the bank; ``right`` swims against the current: from the bank it moves
    right with probability 0.6 (else stays), in the middle right 0.35 / stay 0.6 / left 0.05, at the far end it
    stays with probability 0.6 (else drifts left), and ``right`` at the far end pays a Bernoulli(1) reward."""

    action_names = ("left", "right")
    family = "RiverSwim"

    def __init__(self, n_states: int = 6, episode_length: int = 20, small_reward: float = 0.005,
                 large_reward: float = 1.0) -> None:
        if n_states < 3:
            raise ValueError(f"n_states must be >= 3, got {n_states}")
        if not (0 <= small_reward <= 1 and 0 <= large_reward <= 1):
            raise ValueError("small_reward and large_reward are Bernoulli means in [0, 1]")
        N = n_states
        probs, nxt, rew = np.zeros((N, 2, 3)), np.zeros((N, 2, 3), dtype=int), np.zeros((N, 2, 3))
        for s in range(N):
            probs[s, 0, 0], nxt[s, 0] = 1.0, max(s - 1, 0)
            if s == 0:
                rew[s, 0, :] = small_reward
                outcomes = [(0.6, 1), (0.4, 0)]
            elif s == N - 1:
                rew[s, 1, :] = large_reward
                outcomes = [(0.6, s), (0.4, s - 1)]
            else:
                outcomes = [(0.35, s + 1), (0.6, s), (0.05, s - 1)]
            nxt[s, 1] = s
            for k, (p, n) in enumerate(outcomes):
                probs[s, 1, k], nxt[s, 1, k] = p, n
        goals = np.zeros_like(probs, dtype=bool)
        goals[:, 1] = nxt[:, 1] == N - 1
        start = np.eye(N)[0]
        super().__init__(TabularModel(probs, nxt, rew, np.zeros_like(goals), goals & (probs > 0), start,
                                      "bernoulli"), episode_length)

    def state_label(self, s: int) -> str:
        return f"position {s + 1}"

    def render_state(self, s: int) -> str:
        where = ("the left bank" if s == 0 else "the far right end" if s == self.n_states - 1 else
                 f"{s} positions from the left bank")
        return f"You are at position {s + 1} of {self.n_states} ({where})."

    def task_text(self) -> str:
        return (f"You swim in a river with {self.n_states} positions in a row, from position 1 (the left bank, "
                f"where you start each episode) to position {self.n_states} (the far right end). You can swim "
                "left or right; the current may push you back, and what each move does and where rewards come "
                "from is for you to find out. Rewards are 0 or 1. An episode lasts "
                f"{self.episode_length} steps; reaching position {self.n_states} counts as reaching the goal.")


class DeepSeaMDP(TabularMDPEnv):
    """DeepSea (Osband et al., bsuite) of size N: an N × N grid, start at the top-left; every step descends one
    row and moves one column left (``left``, free, stays at column 1) or right (``right``, reward −0.01/N). After N
    steps the episode ends; ``right`` in the bottom-right cell also pays 1 (the treasure, the goal). Actions are
    named, not shuffled per state."""

    action_names = ("left", "right")
    family = "DeepSea"

    def __init__(self, size: int = 10, move_cost: float = 0.01) -> None:
        if size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        N = size
        S = N * N
        probs = np.zeros((S, 2, 1))
        probs[..., 0] = 1.0
        nxt, rew = np.zeros((S, 2, 1), dtype=int), np.zeros((S, 2, 1))
        dones, goals = np.zeros((S, 2, 1), dtype=bool), np.zeros((S, 2, 1), dtype=bool)
        for row in range(N):
            for col in range(N):
                s = row * N + col
                for a, dc in ((0, -1), (1, 1)):
                    c2 = min(max(col + dc, 0), N - 1)
                    nxt[s, a, 0] = min(row + 1, N - 1) * N + c2
                    dones[s, a, 0] = row == N - 1
                rew[s, 1, 0] = -move_cost / N
                if row == N - 1 and col == N - 1:
                    rew[s, 1, 0] += 1.0
                    goals[s, 1, 0] = True
        self.size = N
        self.move_cost = move_cost
        super().__init__(TabularModel(probs, nxt, rew, dones, goals, np.eye(S)[0]), N)

    def state_label(self, s: int) -> str:
        return f"(depth {s // self.size + 1}, col {s % self.size + 1})"

    def render_state(self, s: int) -> str:
        return (f"You are at depth {s // self.size + 1} of {self.size}, column {s % self.size + 1} of {self.size} "
                "(column 1 is the left wall).")

    def task_text(self) -> str:
        N = self.size
        return (f"You dive into a deep sea, an {N}x{N} grid. You start at depth 1, column 1 (top left); every "
                f"step takes you one level deeper and one column left or right (left at column 1 stays there). "
                f"Moving right costs a little (reward {-self.move_cost / N:g}); moving left is free. Somewhere "
                f"there may be a treasure worth much more. After {N} steps the episode ends.")


#: Registered ids (``expobench/...``): entry point and default kwargs.
MDP_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    "expobench/FrozenLake4x4-v0": ("expobench.envs.mdp:FrozenLakeMDP", {"map_name": "4x4", "episode_length": 16}),
    "expobench/FrozenLake4x4-slippery-v0": (
        "expobench.envs.mdp:FrozenLakeMDP", {"map_name": "4x4", "is_slippery": True, "episode_length": 30}),
    "expobench/FrozenLake8x8-v0": ("expobench.envs.mdp:FrozenLakeMDP", {"map_name": "8x8", "episode_length": 30}),
    "expobench/FrozenLake8x8-slippery-v0": (
        "expobench.envs.mdp:FrozenLakeMDP", {"map_name": "8x8", "is_slippery": True, "episode_length": 60}),
    "expobench/CliffWalking-v0": ("expobench.envs.mdp:CliffWalkingMDP", {"episode_length": 20}),
    "expobench/Taxi-v0": ("expobench.envs.mdp:TaxiMDP", {"episode_length": 25}),
    "expobench/RiverSwim-v0": ("expobench.envs.mdp:RiverSwimMDP", {"n_states": 6, "episode_length": 20}),
    "expobench/DeepSea-v0": ("expobench.envs.mdp:DeepSeaMDP", {"size": 10}),
}
