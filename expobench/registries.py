"""The one helper behind the registries of agent kinds and optimiser kinds (tables by ``cls.kind``)."""

from __future__ import annotations

from typing import Any


def add_kind(table: dict[str, Any], cls: Any, what: str) -> Any:
    """Put ``cls`` into ``table`` under ``cls.kind`` (the registries of agents and optimisers); returns ``cls``."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    if cls.kind in table and table[cls.kind] is not cls:
        raise ValueError(f"{what} kind {cls.kind!r} registered twice")
    table[cls.kind] = cls
    return cls
