"""Classical agents for the tabular MDPs (``expobench.envs.mdp``): ε-greedy Q-learning, PSRL, UCB-VI and the
optimal policy (a sanity line at zero regret). The bandit ``random`` agent also runs on them (uniform actions).

All share :class:`MDPAgent`: it reads the env's sizes and episode length H at ``reset``, keeps the step h within
the episode (reset when ``info["episode_end"]``), visit counts ``n[s, a]``, transition counts ``n[s, a, s']``
(plus a terminal column: ``counts [S, A, S + 1]``) and reward sums, learned from ``observe``'s ``info``
(``state``, ``next_state``, ``terminal``). Ties between actions are broken at random with the agent's rng.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Agent, AgentParams
from expobench.agents.registry import register_agent
from expobench.envs.mdp import TabularMDPEnv, backward_induction


class MDPAgent(Agent):
    """Statistics shared by the tabular agents; subclasses implement ``act`` and may plan at episode starts."""

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        if not isinstance(env, TabularMDPEnv):
            raise TypeError(f"{self.kind} needs a tabular MDP env (expobench.envs.mdp), got {type(env).__name__}")
        self.rng = rng
        self.S, self.A, self.H = env.n_states, env.n_actions, env.episode_length
        self.reward_kind = env.reward_kind
        self.reward_bounds = env.reward_bounds
        self.counts = np.zeros((self.S, self.A, self.S + 1))  # last column: the episode ended (terminal outcome)
        self.reward_sums = np.zeros((self.S, self.A))
        self.h = 0
        self.t = 0
        self.episode_started = True

    @property
    def visits(self) -> np.ndarray:
        """``n[s, a]``, shape [S, A]."""
        return self.counts.sum(-1)

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        s, a = int(info["state"]), int(action)
        self.counts[s, a, self.S if info["terminal"] else int(info["next_state"])] += 1
        self.reward_sums[s, a] += reward
        self.t += 1
        self.h += 1
        self.episode_started = bool(info["episode_end"])
        if self.episode_started:
            self.h = 0

    def _argmax(self, values: np.ndarray) -> int:
        best = np.flatnonzero(values == values.max())
        return int(best[0] if len(best) == 1 else self.rng.choice(best))


class QLearningParams(AgentParams):
    epsilon: float = Field(0.1, ge=0.0, le=1.0, description="Probability of a uniform random action each step.")
    alpha: float = Field(0.1, gt=0.0, le=1.0, description="Learning rate.")
    gamma: float = Field(0.99, ge=0.0, le=1.0, description="Discount of the bootstrapped target.")
    init: float = Field(0.0, description="Initial Q value of every (s, a).")


@register_agent
class QLearningAgent(MDPAgent):
    """Tabular Q-learning (Watkins 1989) with an ε-greedy policy; the target does not bootstrap through a
    terminal outcome."""

    kind = "q_learning"
    Params = QLearningParams

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        self.q = np.full((self.S, self.A), float(self.params.init))

    def act(self, observation: Any) -> int:
        if self.rng.random() < self.params.epsilon:
            return int(self.rng.integers(self.A))
        return self._argmax(self.q[int(observation)])

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        super().observe(action, reward, info)
        s, a, p = int(info["state"]), int(action), self.params
        target = reward + (0.0 if info["terminal"] else p.gamma * self.q[int(info["next_state"])].max())
        self.q[s, a] += p.alpha * (target - self.q[s, a])


class PlanningAgent(MDPAgent):
    """Computes a finite-horizon Q table ``[H, S, A]`` at the start of every episode (:meth:`plan`) and acts
    greedily on it at the current step h."""

    def act(self, observation: Any) -> int:
        if self.episode_started:
            self.q_plan = self.plan()
            self.episode_started = False
        return self._argmax(self.q_plan[self.h, int(observation)])

    @abstractmethod
    def plan(self) -> np.ndarray:
        """Q values for the episode, shape ``(H, n_states, n_actions)``, from the agent's current beliefs."""


class PSRLParams(AgentParams):
    dirichlet_prior: float = Field(
        1.0, gt=0.0, description="Dirichlet prior weight of each outcome (every next state and the terminal one).")
    reward_prior: Literal["auto", "beta", "normal"] = Field(
        "auto", description="Reward posterior: beta (rewards in [0, 1]), normal, or auto (beta when the env's "
        "rewards are 0/1 or Bernoulli, else normal).")
    beta_prior: tuple[float, float] = Field((1.0, 1.0), description="Beta(α, β) prior of a mean reward.")
    normal_prior_var: float = Field(1.0, gt=0.0, description="Normal prior variance of a mean reward (mean 0).")
    normal_noise_var: float = Field(1.0, gt=0.0, description="Assumed reward noise variance (normal rewards).")


@register_agent
class PSRLAgent(PlanningAgent):
    """Posterior sampling for RL (Osband, Russo & Van Roy 2013): at each episode start, draw transition
    probabilities from Dirichlet posteriors and mean rewards from Beta or Normal posteriors, then follow the
    sampled MDP's finite-horizon optimal policy for the episode."""

    kind = "psrl"
    Params = PSRLParams

    def plan(self) -> np.ndarray:
        p = self.params
        alpha = self.counts + p.dirichlet_prior
        g = self.rng.standard_gamma(alpha)
        P = g / g.sum(-1, keepdims=True)
        n = self.visits
        kind = p.reward_prior if p.reward_prior != "auto" else ("beta" if self.reward_kind == "bernoulli"
                                                                   else "normal")
        if kind == "beta":
            a0, b0 = p.beta_prior
            succ = np.clip(self.reward_sums, 0, n)
            R = self.rng.beta(a0 + succ, b0 + n - succ)
        else:
            precision = 1.0 / p.normal_prior_var + n / p.normal_noise_var
            mean = (self.reward_sums / p.normal_noise_var) / precision
            R = mean + self.rng.standard_normal((self.S, self.A)) / np.sqrt(precision)
        _, Q = backward_induction(R, P[:, :, :self.S], self.H)
        return Q


class UCBVIParams(AgentParams):
    bonus_scale: float = Field(
        0.1, ge=0.0, description="c in the bonus c · (H − h) · range · sqrt(log(S·A·H·t) / n(s, a)) "
        "(Hoeffding style; the theory's constant is far larger and explores for much longer; 0 = certainty "
        "equivalence).")


@register_agent
class UCBVIAgent(PlanningAgent):
    """UCB-VI (Azar, Osband & Munos 2017), Hoeffding-style optimism in the spirit of UCRL2: value iteration on the
    empirical model with a bonus shrinking as 1/sqrt(n(s, a)); every Q value is capped at the largest return
    still possible ((H − h) · r_max) and unvisited pairs get that cap, so untried actions are tried first."""

    kind = "ucbvi"
    Params = UCBVIParams

    def plan(self) -> np.ndarray:
        n = self.visits
        lo, hi = self.reward_bounds
        span = max(hi - lo, 1e-12)
        seen = n > 0
        P = np.divide(self.counts[:, :, :self.S], n[..., None], out=np.zeros((self.S, self.A, self.S)),
                      where=seen[..., None])
        R = np.divide(self.reward_sums, n, out=np.zeros_like(n), where=seen)
        log_term = math.log(max(self.S * self.A * self.H * max(self.t, 1), 2))
        root = np.sqrt(log_term / np.maximum(n, 1))
        V = np.zeros(self.S)
        Q = np.zeros((self.H, self.S, self.A))
        for h in range(self.H - 1, -1, -1):
            cap = (self.H - h) * hi
            bonus = self.params.bonus_scale * (self.H - h) * span * root
            q = R + P @ V + bonus
            Q[h] = np.where(seen, np.minimum(q, cap), cap)
            V = Q[h].max(1)
        return Q


@register_agent
class MDPOptimalAgent(MDPAgent):
    """The optimal policy of the known model (reads the env's oracle): zero regret, a sanity line in plots."""

    kind = "mdp_optimal"

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        self.Q = env.Q

    def act(self, observation: Any) -> int:
        return self._argmax(self.Q[self.h, int(observation)])
