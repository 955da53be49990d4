"""The one helper behind the registries of agent kinds and optimiser kinds (tables by ``cls.kind``)."""

from __future__ import annotations

from typing import Any


def add_kind(table: dict[str, Any], cls: Any, what: str) -> Any:
    """Put ``cls`` into ``table`` under ``cls.kind`` (the registries of agents and optimisers); returns ``cls``.
    A class with unimplemented abstract methods is refused here, when it is registered, not mid-run."""
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise TypeError(f"{what} {cls.__name__} cannot be registered: it does not implement {', '.join(missing)}")
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    if cls.kind in table and table[cls.kind] is not cls:
        raise ValueError(f"{what} kind {cls.kind!r} registered twice")
    table[cls.kind] = cls
    return cls
