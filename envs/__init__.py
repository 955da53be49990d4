"""Gymnasium environments of the suite; importing this package registers every ``expobench/...`` id."""

from expobench.envs.registration import registered_ids  # noqa: F401  (registers on import)
