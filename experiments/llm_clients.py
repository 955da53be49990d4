"""One LLM client per distinct LLM configuration of an experiment, shared by all runs that use it (so their
requests batch together), created lazily: an experiment of classical agents never loads a model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from expobench.agents.base import Agent
from expobench.experiments.config import AgentConfig, ExperimentConfig

if TYPE_CHECKING:
    from expobench.agents.llm.client import LLMClient
    from expobench.agents.llm.config import LLMConfig


class ClientPool:
    def __init__(self, cfg: ExperimentConfig, use_cache: bool = True) -> None:
        self.cfg = cfg
        self.use_cache = use_cache and cfg.cache.enabled
        self._configs: dict[str, LLMConfig] = {}
        self._clients: dict[str, LLMClient] = {}
        self._cache: Any = None

    def llm_config(self, agent: AgentConfig, role: str) -> LLMConfig:
        """The LLM that serves ``role`` requests of ``agent``: the optimiser's own LLM for role "optimizer" when
        configured, else the agent's (or the experiment default)."""
        if role == "optimizer" and agent.optimizer is not None and agent.optimizer.llm is not None:
            return agent.optimizer.llm
        return self.cfg.llm_for(agent)

    def key_for(self, agent: AgentConfig, role: str) -> str:
        llm = self.llm_config(agent, role)
        key = json.dumps(llm.model_dump(mode="json"), sort_keys=True)
        self._configs[key] = llm
        return key

    def get(self, key: str) -> LLMClient:
        if key not in self._clients:
            from expobench.agents.llm.cache import ResponseCache
            from expobench.agents.llm.config import make_client

            if self.use_cache and self._cache is None:
                self._cache = ResponseCache(self.cfg.cache_path())
            self._clients[key] = make_client(self._configs[key], self._cache if self.use_cache else None)
        return self._clients[key]

    def wire(self, agent: Agent, spec: Any) -> None:
        """Give an LLM agent what it needs from the experiment (its optimiser config, seed, task settings)."""
        configure = getattr(agent, "configure", None)
        if configure is not None:
            configure(agent_config=spec.agent, experiment=self.cfg, seed=spec.seed)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {key: dict(client.stats) for key, client in self._clients.items()}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        if self._cache is not None:
            self._cache.close()
