"""Optimisation envs whose instance (data, coordinates) and warm start are drawn from a seed (OPRO's LinReg and TSP).

``instance_seed=None``: every ``reset(seed=s)`` builds the instance of ``s`` (the runner gives every agent of one run
seed the same env seed, so they share it; different seeds are different instances). An int declares one instance
for every seed. The warm start (``warm_start`` after reset, shared by every agent of a seed) is drawn from the reset
seed on a stream of its own (``default_rng([seed, 1])``), independent of the instance's stream
(``default_rng(seed)``). ``reset()`` without a seed keeps the current instance and warm start; ``__init__`` (through
:meth:`SeededInstanceEnv.init_instance`) leaves the instance of ``instance_seed`` (0 when None).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np

PROTOCOLS = ("expo", "opro")
_WARM_STREAM = 1


def check_protocol(protocol: str) -> str:
    """``protocol`` when it is one of :data:`PROTOCOLS`; a ValueError naming the field otherwise."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: unknown {protocol!r}; allowed: {', '.join(PROTOCOLS)}")
    return protocol


class SeededInstanceEnv(gym.Env):
    """Base of envs with a seeded instance and warm start; subclasses implement :meth:`_build` and
    :meth:`sample_warm_start` and call :meth:`init_instance` at the end of ``__init__``."""

    instance_seed: int | None
    n_warm_start: int
    instance: int
    warm_start: list[Any]

    @abstractmethod
    def _build(self, seed: int) -> None:
        """Make instance ``seed`` current (and set ``self.instance``)."""

    @abstractmethod
    def sample_warm_start(self, rng: np.random.Generator, n: int) -> list[Any]:
        """``n`` warm-start solutions of the protocol drawn from ``rng``."""

    def init_instance(self, instance_seed: int | None, n_warm_start: int) -> None:
        self.instance_seed, self.n_warm_start = instance_seed, int(n_warm_start)
        self._use_seed(0 if instance_seed is None else int(instance_seed), build=True)

    def _use_seed(self, seed: int, build: bool) -> None:
        if build:
            self._build(seed)
        self.warm_start = self.sample_warm_start(np.random.default_rng([seed, _WARM_STREAM]), self.n_warm_start)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._use_seed(int(seed), build=self.instance_seed is None and seed != self.instance)
        return 0, {"instance": self.instance}
