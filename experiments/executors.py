"""Where an experiment's runs execute (``executor:`` in a config, ``--executor/--address/--workers`` on the
command line): ``local`` (this process) or ``ray`` (:mod:`expobench.experiments.ray_executor`)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from expobench.experiments.config import ExecutorConfig, ExperimentConfig, _describe
from expobench.experiments.errors import ConfigError

EXECUTORS = ("local", "ray")


def with_executor(cfg: ExperimentConfig, kind: str | None = None, address: str | None = None,
                  workers: int | None = None) -> ExperimentConfig:
    """``cfg`` with its executor's fields replaced by those given (None: keep the config's), validated like the
    config: a bad value is a :class:`ConfigError` naming ``executor.FIELD``."""
    updates: dict[str, Any] = {k: v for k, v in (("kind", kind), ("address", address), ("workers", workers))
                               if v is not None}
    if not updates:
        return cfg
    if address is not None and kind is None and cfg.executor.kind == "local":
        updates["kind"] = "ray"  # an address means a cluster
    try:
        executor = ExecutorConfig.model_validate({**cfg.executor.model_dump(), **updates})
    except ValidationError as e:
        raise ConfigError("invalid executor\n" + "\n".join(f"  {_describe(err, 'executor')}" for err in e.errors())
                          ) from None
    return cfg.model_copy(update={"executor": executor})
