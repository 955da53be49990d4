"""Classical bandit agents (METHODS §4.1 baselines).

All share :class:`BanditAgent`: per-arm pull counts and reward sums, ties broken at random with the agent's rng
(never by arm order, which would bias towards arm 0). Rewards are assumed in [0, 1] for Bernoulli envs; the
Gaussian Thompson sampler handles unbounded rewards.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Agent, AgentParams
from expobench.agents.registry import register_agent


class BanditAgent(Agent):
    """Keeps ``counts[a]`` and ``sums[a]``; subclasses implement ``act``."""

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise TypeError(f"{self.kind} needs a Discrete action space, got {env.action_space}")
        self.n_arms = int(env.action_space.n)
        self.reward_kind = getattr(env, "reward_kind", "bernoulli")
        self.rng = rng
        self.counts = np.zeros(self.n_arms)
        self.sums = np.zeros(self.n_arms)
        self.t = 0

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        a = int(action)
        self.counts[a] += 1
        self.sums[a] += reward
        self.t += 1

    @property
    def empirical_means(self) -> np.ndarray:
        return np.divide(self.sums, self.counts, out=np.zeros(self.n_arms), where=self.counts > 0)

    def _argmax(self, values: np.ndarray) -> int:
        best = np.flatnonzero(values == values.max())
        return int(best[0] if len(best) == 1 else self.rng.choice(best))

    # -- the runner's batched path: several runs' agents of one kind at once, same results as one by one ------
    @classmethod
    def act_batch(cls, agents: list[BanditAgent]) -> list[int]:
        """The next arm of each agent; identical to calling each agent's ``act`` (kinds may vectorise it)."""
        return [agent.act(None) for agent in agents]

    @classmethod
    def observe_batch(cls, agents: list[BanditAgent], actions: list[int], rewards: list[float]) -> None:
        """``observe`` for each agent (the batched path passes no ``info``: bandit agents learn from rewards)."""
        for agent, action, reward in zip(agents, actions, rewards):
            agent.observe(action, reward, {})

    @staticmethod
    def stacked(agents: list[BanditAgent]) -> tuple[np.ndarray, np.ndarray]:
        """``counts`` and ``sums`` of ``agents`` as [n, K] matrices whose rows *are* the agents' arrays: built once
        for a group of agents (each agent's arrays become views of its row) and reused while the group is the
        same, so vectorised ``act_batch`` reads every agent's state without copying it each step."""
        stack = getattr(agents[0], "_stack", None)
        if stack is None or len(stack[0]) != len(agents) or any(
                getattr(a, "_stack", None) is not stack or a._stack_row != i for i, a in enumerate(agents)):
            stack = (np.stack([a.counts for a in agents]), np.stack([a.sums for a in agents]))
            for i, a in enumerate(agents):
                a.counts, a.sums, a._stack, a._stack_row = stack[0][i], stack[1][i], stack, i
        return stack


def argmax_rows(values: np.ndarray, agents: list[BanditAgent]) -> list[int]:
    """:meth:`BanditAgent._argmax` of each row of ``values`` [n_agents, K]: the maximising arm, ties broken by
    that agent's own ``rng`` exactly as one by one."""
    ties = values == values.max(axis=1, keepdims=True)
    out = ties.argmax(axis=1).tolist()
    for i in np.flatnonzero(np.count_nonzero(ties, axis=1) > 1):
        out[i] = int(agents[i].rng.choice(np.flatnonzero(ties[i])))
    return out


@register_agent
class RandomAgent(BanditAgent):
    """Uniform random arm every round."""

    kind = "random"

    def act(self, observation: Any) -> int:
        return int(self.rng.integers(self.n_arms))


@register_agent
class GreedyAgent(BanditAgent):
    """Plays each arm once, then always the best empirical mean."""

    kind = "greedy"

    def act(self, observation: Any) -> int:
        if (self.counts == 0).any():
            return self._argmax((self.counts == 0).astype(float))
        return self._argmax(self.empirical_means)


class EpsilonGreedyParams(AgentParams):
    epsilon: float = Field(0.1, ge=0.0, le=1.0, description="Probability of a uniform random arm each round.")


@register_agent
class EpsilonGreedyAgent(GreedyAgent):
    """With probability ε a uniform random arm, otherwise greedy."""

    kind = "epsilon_greedy"
    Params = EpsilonGreedyParams

    def act(self, observation: Any) -> int:
        if self.rng.random() < self.params.epsilon:
            return int(self.rng.integers(self.n_arms))
        return super().act(observation)


class UCBParams(AgentParams):
    c: float = Field(2.0, gt=0.0, description="Exploration constant: bonus sqrt(c · ln t / n_a) (UCB1: c = 2).")


@register_agent
class UCBAgent(BanditAgent):
    """UCB1 (Auer et al. 2002): each arm once, then argmax of mean + sqrt(c ln t / n_a)."""

    kind = "ucb"
    Params = UCBParams

    def act(self, observation: Any) -> int:
        if (self.counts == 0).any():
            return self._argmax((self.counts == 0).astype(float))
        bonus = np.sqrt(self.params.c * math.log(self.t) / self.counts)
        return self._argmax(self.empirical_means + bonus)

    @classmethod
    def act_batch(cls, agents: list[BanditAgent]) -> list[int]:
        """``act`` of all agents as array operations over [n_agents, K] (the same floating-point operations
        element by element, so the same arms)."""
        counts, sums = cls.stacked(agents)
        played = counts > 0
        scale = np.array([a.params.c * math.log(a.t) if a.t > 0 else 0.0 for a in agents])
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=played)
        bonus = np.divide(scale[:, None], counts, out=np.zeros_like(sums), where=played)
        values = means + np.sqrt(bonus, out=bonus)
        cold = ~played.all(axis=1)
        if cold.any():
            values[cold] = (~played[cold]).astype(float)
        return argmax_rows(values, agents)


class SlidingWindowUCBParams(AgentParams):
    window: int = Field(100, ge=1, description="Only the last `window` rounds enter the statistics.")
    xi: float = Field(0.6, gt=0.0, description="Bonus sqrt(xi · ln min(t, window) / n_a) (Garivier & Moulines: xi > 1/2).")


@register_agent
class SlidingWindowUCBAgent(BanditAgent):
    """Sliding-window UCB (Garivier & Moulines 2011) for non-stationary bandits."""

    kind = "sw_ucb"
    Params = SlidingWindowUCBParams

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        self.history: list[tuple[int, float]] = []

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        super().observe(action, reward, info)
        self.history.append((int(action), float(reward)))
        if len(self.history) > self.params.window:
            old_a, old_r = self.history.pop(0)
            self.counts[old_a] -= 1
            self.sums[old_a] -= old_r

    def act(self, observation: Any) -> int:
        if (self.counts == 0).any():
            return self._argmax((self.counts == 0).astype(float))
        n = min(self.t, self.params.window)
        bonus = np.sqrt(self.params.xi * math.log(max(n, 2)) / self.counts)
        return self._argmax(self.empirical_means + bonus)


class ThompsonParams(AgentParams):
    prior_alpha: float = Field(1.0, gt=0.0, description="Beta prior α (Bernoulli rewards).")
    prior_beta: float = Field(1.0, gt=0.0, description="Beta prior β (Bernoulli rewards).")
    prior_var: float = Field(1.0, gt=0.0, description="Gaussian prior variance of each mean (Gaussian rewards).")
    noise_var: float = Field(1.0, gt=0.0, description="Assumed reward noise variance (Gaussian rewards).")


@register_agent
class ThompsonAgent(BanditAgent):
    """Thompson sampling: Beta posterior for Bernoulli envs, Gaussian posterior (N(0, prior_var) prior) otherwise."""

    kind = "thompson"
    Params = ThompsonParams

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.counts, self.sums

    def act(self, observation: Any) -> int:
        n, s = self._stats()
        p = self.params
        if self.reward_kind == "bernoulli":
            samples = self.rng.beta(p.prior_alpha + s, p.prior_beta + n - s)
        else:
            precision = 1.0 / p.prior_var + n / p.noise_var
            mean = (s / p.noise_var) / precision
            samples = mean + self.rng.standard_normal(self.n_arms) / np.sqrt(precision)
        return self._argmax(samples)


class DiscountedThompsonParams(ThompsonParams):
    gamma: float = Field(0.95, gt=0.0, le=1.0, description="Discount applied to all statistics every round.")


@register_agent
class DiscountedThompsonAgent(ThompsonAgent):
    """Discounted Thompson sampling (Raj & Kalyani 2017): statistics decay by γ each round."""

    kind = "discounted_thompson"
    Params = DiscountedThompsonParams

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        self.dcounts = np.zeros(self.n_arms)
        self.dsums = np.zeros(self.n_arms)

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        super().observe(action, reward, info)
        self.dcounts *= self.params.gamma
        self.dsums *= self.params.gamma
        self.dcounts[int(action)] += 1
        self.dsums[int(action)] += reward

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.dcounts, self.dsums


class EXP3Params(AgentParams):
    gamma: float | None = Field(
        None, gt=0.0, le=1.0, description="Exploration rate; None = the horizon-tuned value for T = `horizon`."
    )
    horizon: int | None = Field(
        None, ge=1, description="Horizon used to tune gamma when gamma is None; default: the run's horizon.")


@register_agent
class EXP3Agent(BanditAgent):
    """EXP3 (Auer et al. 2002) with importance-weighted reward estimates, rewards in [0, 1]."""

    kind = "exp3"
    Params = EXP3Params

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().reset(env, rng)
        k, T = self.n_arms, self.params.horizon or self.horizon
        if T is None:
            raise ValueError("exp3: set params.horizon (or gamma) when running outside the experiment runner")
        self.gamma = self.params.gamma or min(1.0, math.sqrt(k * math.log(k) / ((math.e - 1) * T)))
        self.log_w = np.zeros(k)
        self.probs = np.full(k, 1.0 / k)

    def act(self, observation: Any) -> int:
        w = np.exp(self.log_w - self.log_w.max())
        self.probs = (1 - self.gamma) * w / w.sum() + self.gamma / self.n_arms
        return int(self.rng.choice(self.n_arms, p=self.probs))

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        super().observe(action, reward, info)
        a = int(action)
        estimate = reward / self.probs[a]
        self.log_w[a] += self.gamma * estimate / self.n_arms
