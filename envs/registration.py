"""Registers the suite's environment ids with Gymnasium (``expobench/...``)."""

from __future__ import annotations

import importlib

import gymnasium as gym

_BANDITS = {
    "expobench/MAB-v0": ("expobench.envs.bandits:MeansBandit", {"means": [0.3, 0.5, 0.7]}),
    "expobench/MAB-hard-v0": ("expobench.envs.bandits:TwoLevelBandit", {"n_arms": 5, "delta": 0.2}),
    "expobench/MAB-easy-v0": ("expobench.envs.bandits:TwoLevelBandit", {"n_arms": 4, "delta": 0.5}),
    "expobench/MAB-hard-changepoint-v0": ("expobench.envs.bandits:PiecewiseStationaryBandit", {"period": 50}),
    "expobench/MAB-hard-drift-v0": ("expobench.envs.bandits:DriftingBandit", {"drift_std": 0.02}),
    "expobench/MAB-gaussian-v0": (
        "expobench.envs.bandits:MeansBandit",
        {"means": [0.0, 0.5, 1.0, 0.25, 0.75], "reward": "gaussian", "noise_std": 1.0},
    ),
}


_OPTIM = {
    **{f"expobench/LinReg-w{w}-b{b}-v0".replace("-b-", "-bm"): ("expobench.envs.linreg:LinearRegressionEnv",
                                                               {"w_true": w, "b_true": b})
       for w, b in [(2, 30), (36, -1), (15, 14), (17, 17), (16, 10), (3, 5), (25, 23)]},
    "expobench/LinReg-v0": ("expobench.envs.linreg:LinearRegressionEnv", {}),
    **{f"expobench/TSP-{n}-v0": ("expobench.envs.tsp:TSPEnv", {"n": n}) for n in (10, 15, 20)},
}


def _register_all() -> None:
    for env_id, (entry, kwargs) in _OPTIM.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, kwargs=kwargs)
    for env_id, (entry, kwargs) in _BANDITS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, kwargs=kwargs)
    from expobench.envs.mdp import MDP_IDS  # tabular MDPs (expobench/FrozenLake4x4-v0, ...)

    for env_id, (entry, kwargs) in MDP_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, kwargs=kwargs)
    try:  # the optimisation-task families register themselves
        importlib.import_module("expobench.envs.optim_registry")
    except ModuleNotFoundError as e:
        if e.name != "expobench.envs.optim_registry":
            raise


def registered_ids() -> list[str]:
    """All ``expobench/...`` ids, sorted."""
    return sorted(k for k in gym.registry if k.startswith("expobench/"))


_register_all()
