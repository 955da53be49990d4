"""Registers the black-box (BO) and tabular HPO environment ids (``expobench/BO-...``, ``expobench/HPO-...``)."""

from __future__ import annotations

import gymnasium as gym

from expobench.envs.blackbox import BO_IDS


def _ids() -> dict[str, tuple[str, dict]]:
    ids = dict(BO_IDS)
    from expobench.envs.hpo import HPO_IDS

    ids.update(HPO_IDS)
    return ids


for _env_id, (_entry, _kwargs) in _ids().items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry, kwargs=_kwargs)
