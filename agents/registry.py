"""Agent kinds by name. Modules register their classes with :func:`register_agent`."""

from __future__ import annotations

from typing import Any

from agents.base import Agent

AGENTS: dict[str, type[Agent]] = {}


def add_kind(table: dict[str, Any], cls: Any, what: str) -> Any:
    """Put ``cls`` into ``table`` under ``cls.kind`` (the registries of agents and optimisers); returns ``cls``."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    if cls.kind in table and table[cls.kind] is not cls:
        raise ValueError(f"{what} kind {cls.kind!r} registered twice")
    table[cls.kind] = cls
    return cls


def register_agent(cls: type[Agent]) -> type[Agent]:
    """Class decorator: make ``cls`` available under ``cls.kind``."""
    return add_kind(AGENTS, cls, "agent")


def _load_builtin() -> None:
    # Imported for their registration side effect.
    import importlib

    for mod in ("agents.bandit", "agents.llm_bandit", "agents.optim_baselines", "agents.tsp_baselines",
                "agents.llm_optimizer"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a module not written yet / optional
            if e.name != mod:
                raise


def agent_kinds() -> list[str]:
    _load_builtin()
    return sorted(AGENTS)


def make_agent(kind: str, params: dict[str, Any] | None = None) -> Agent:
    _load_builtin()
    cls = AGENTS[kind]
    return cls(cls.Params(**(params or {})))
