"""Agent kinds by name. Modules register their classes with :func:`register_agent`."""

from __future__ import annotations

from typing import Any

from expobench.agents.base import Agent
from expobench.registries import add_kind

AGENTS: dict[str, type[Agent]] = {}


def register_agent(cls: type[Agent]) -> type[Agent]:
    """Class decorator: make ``cls`` available under ``cls.kind``. Refuses (TypeError) a class that leaves an
    abstract method unimplemented or implements neither ``act`` nor ``decide``."""
    if cls.act is Agent.act and cls.decide is Agent.decide:
        raise TypeError(f"agent {cls.__name__} cannot be registered: it implements neither act nor decide")
    return add_kind(AGENTS, cls, "agent")


def _load_builtin() -> None:
    # Imported for their registration side effect.
    import importlib

    for mod in ("expobench.agents.bandit", "expobench.agents.llm_bandit", "expobench.agents.optim_baselines", "expobench.agents.tsp_baselines",
                "expobench.agents.llm_optimizer", "expobench.agents.mdp", "expobench.agents.llm_mdp"):
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
