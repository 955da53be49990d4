"""Classical baselines for black-box optimisation and tabular HPO (METHODS §4.4-4.5).

Every agent here works on an env with a ``space`` (``expobench.envs.search_space.SearchSpace``): the BO and HPO envs. It
starts from the task's warm start (the env's initial points, shared by all agents of a seed, with their values)
and proposes one point per step, in natural units. Observations are rewards (maximised).

- ``random_search``: uniform in the unit cube (log-uniform for log-scaled parameters).
- ``sobol``: a scrambled Sobol sequence (seeded from the agent's rng).
- ``gp_ei``: BoTorch ``SingleTaskGP`` on the unit cube (outcomes standardised), fitted by marginal likelihood
  every step, next point maximising ``qLogExpectedImprovement`` (q = 1) with ``optimize_acqf``.
- ``gp_ucb``: the same GP with ``UpperConfidenceBound(beta)``.

A GP step that fails numerically plays a random point instead and says so in the step record (``fallback``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from expobench.agents.base import Agent, AgentParams, Decision, DecisionGen
from expobench.agents.registry import register_agent
from expobench.settings import torch_threads


class PointAgentParams(AgentParams):
    warm_start: int = Field(5, ge=0, description="Initial points taken from the env (shared by all agents).")


class PointAgent(Agent):
    """Keeps the evaluated points ``X [n, d]`` (natural units) and their rewards ``y [n]``."""

    Params = PointAgentParams

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        from expobench.envs.opro_text import task_for

        if not hasattr(env, "space"):
            raise TypeError(f"{self.kind} needs a black-box or HPO env (with a search space), got "
                            f"{type(env).__name__}")
        self.env, self.rng, self.space = env, rng, env.space
        task = task_for(env)
        init = task.warm_start(rng, self.params.warm_start) if self.params.warm_start else []
        self.X = [np.asarray(p, dtype=np.float64) for p in init]
        self.y = [-task.value(p) for p in init]
        self.n_initial = len(self.X)
        self.start()

    def initial_evaluations(self) -> list[tuple[Any, float]]:
        return [([float(v) for v in x], y) for x, y in zip(self.X[:self.n_initial], self.y[:self.n_initial])]

    def start(self) -> None:
        """Per-run state after the warm start."""

    @abstractmethod
    def propose(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The next point (natural units, shape ``[d]``) and a record."""

    def decide(self, observation: Any) -> DecisionGen:
        x, record = self.propose()
        return Decision([float(v) for v in x], record)
        yield  # pragma: no cover

    def observe(self, action: Any, reward: float, info: dict[str, Any]) -> None:
        self.X.append(np.asarray(action, dtype=np.float64))
        self.y.append(float(reward))


@register_agent
class RandomSearch(PointAgent):
    kind = "random_search"

    def propose(self) -> tuple[np.ndarray, dict[str, Any]]:
        return self.space.sample(self.rng, 1)[0], {}


@register_agent
class SobolSearch(PointAgent):
    kind = "sobol"

    def start(self) -> None:
        from scipy.stats import qmc

        self.sobol = qmc.Sobol(self.space.dim, scramble=True, seed=int(self.rng.integers(2**31 - 1)))

    def propose(self) -> tuple[np.ndarray, dict[str, Any]]:
        import warnings

        with warnings.catch_warnings():  # one point at a time breaks the power-of-2 balance; expected
            warnings.simplefilter("ignore", UserWarning)
            u = self.sobol.random(1)
        return self.space.from_unit(u)[0], {}


class GPAgentParams(PointAgentParams):
    num_restarts: int = Field(8, ge=1, description="optimize_acqf restarts.")
    raw_samples: int = Field(256, ge=2, description="optimize_acqf raw samples for the initial conditions.")


class GPAgent(PointAgent):
    """Shared GP fit and acquisition maximisation; subclasses build the acquisition function."""

    Params = GPAgentParams

    @abstractmethod
    def acquisition(self, model: Any, train_y: Any) -> Any:
        """The BoTorch acquisition function for the fitted ``model`` and training targets ``train_y``."""

    def propose(self) -> tuple[np.ndarray, dict[str, Any]]:
        if len(self.X) < 2:
            return self.space.sample(self.rng, 1)[0], {"fallback": True, "error": "fewer than 2 observations"}
        import warnings

        from threadpoolctl import threadpool_limits

        try:
            # one thread: parallel reductions make the fit and the acquisition optimum depend on the thread
            # schedule, and a resumed run must replay its committed steps exactly
            with torch_threads(1), warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore")  # restarts of the acquisition optimiser warn routinely
                return self._gp_step(), {"fallback": False}
        except Exception as e:  # noqa: BLE001 -- numerical failures of GP fitting are data, not crashes
            return self.space.sample(self.rng, 1)[0], {"fallback": True, "error": f"{type(e).__name__}: {e}"[:300]}

    def _gp_step(self) -> np.ndarray:
        import torch

        seed = int(self.rng.integers(2**31 - 1))
        with torch.random.fork_rng():  # the fit's restarts sample from torch's global generator: seed it per step
            torch.manual_seed(seed)
            return self._fit_and_optimise(seed)

    def _fit_and_optimise(self, seed: int) -> np.ndarray:
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Standardize
        from botorch.optim import optimize_acqf
        from gpytorch.mlls import ExactMarginalLogLikelihood

        train_x = torch.as_tensor(self.space.to_unit(np.stack(self.X)), dtype=torch.float64)
        train_y = torch.as_tensor(np.asarray(self.y), dtype=torch.float64)[:, None]
        model = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        bounds = torch.stack([torch.zeros(self.space.dim), torch.ones(self.space.dim)]).to(torch.float64)
        cand, _ = optimize_acqf(self.acquisition(model, train_y), bounds=bounds, q=1,
                                num_restarts=self.params.num_restarts, raw_samples=self.params.raw_samples,
                                options={"seed": seed})
        return self.space.from_unit(cand.detach().numpy()[0])


@register_agent
class GPLogEI(GPAgent):
    kind = "gp_ei"

    def acquisition(self, model: Any, train_y: Any) -> Any:
        from botorch.acquisition.logei import qLogExpectedImprovement

        return qLogExpectedImprovement(model, best_f=train_y.max())


class GPUCBParams(GPAgentParams):
    beta: float = Field(2.0, gt=0, description="UCB exploration weight (BoTorch's beta: mean + sqrt(beta)·std).")


@register_agent
class GPUCB(GPAgent):
    kind = "gp_ucb"
    Params = GPUCBParams

    def acquisition(self, model: Any, train_y: Any) -> Any:
        from botorch.acquisition import UpperConfidenceBound

        return UpperConfidenceBound(model, beta=self.params.beta)
