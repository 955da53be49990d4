"""LLM settings (the ``llm:`` block of a config) and the factory that builds a client from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from expobench.agents.llm.cache import ResponseCache
    from expobench.agents.llm.client import LLMClient
    from expobench.agents.llm.types import Backend


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["llamacpp", "openai", "vllm", "scripted"] = Field(
        "llamacpp", description="llamacpp (embedded, CPU; default), openai (any OpenAI-compatible server), "
        "vllm (offline engine on GPUs), scripted (deterministic, for tests)."
    )
    model: str = Field(
        "qwen2.5-coder-1.5b-instruct",
        description="llamacpp: a built-in name (qwen2.5-coder-1.5b-instruct, qwen2.5-coder-0.5b-instruct, "
        "smollm2-135m-instruct) or a .gguf path; vllm: a model directory; openai: the served model name.",
    )
    n_ctx: int = Field(4096, ge=256, description="llamacpp: context window in tokens.")
    n_threads: int | None = Field(
        None, ge=1, description="llamacpp: CPU threads (default: $EXPOBENCH_LLM_THREADS, else all cores).")
    n_batch: int = Field(512, ge=1, description="llamacpp: prompt-evaluation batch size.")
    ram_cache_mb: int = Field(
        2048, ge=0, description="llamacpp: RAM for saved KV states (prefix reuse across interleaved runs); 0 = off."
    )
    base_url: str | list[str] | None = Field(
        None, description="openai: server URL, e.g. http://127.0.0.1:8000/v1, or a list of URLs serving the same "
        "model (one vLLM server per GPU or node): requests go to the server with the fewest outstanding "
        "(docs/scale.md).")
    api_key_env: str | None = Field(
        None, description="openai: name of the environment variable holding the API key (the key is never stored)."
    )
    server_kind: Literal["vllm", "llamacpp"] = Field(
        "vllm", description="openai: which server, for its constrained-output request fields."
    )
    timeout_s: float = Field(120.0, gt=0, description="openai: per-request timeout in seconds.")
    max_attempts: int = Field(4, ge=1, description="Backend calls per request before giving up (transient errors).")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each retry.")
    backoff_max_s: float = Field(8.0, ge=0, description="Largest retry delay.")
    deadline_s: float = Field(
        120.0, gt=0, description="Total seconds one LLM request may cost, retries and other servers included: no "
        "retry starts after it, and each attempt's timeout is cut to what is left (openai backend).")
    policy: str = Field("first_choice", description="scripted: the policy (first_choice, bandit_best_mean, ...).")
    policy_args: dict[str, Any] = Field(default_factory=dict, description="scripted: the policy's arguments.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Backend-specific engine keyword arguments.")


def make_backend(cfg: LLMConfig) -> Backend:
    """Build the backend (imports only the chosen one)."""
    if cfg.backend == "scripted":
        from expobench.agents.llm.scripted import ScriptedBackend

        return ScriptedBackend(cfg.policy, cfg.policy_args)
    if cfg.backend == "llamacpp":
        from expobench.agents.llm.llamacpp import LlamaCppBackend

        return LlamaCppBackend(cfg.model, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_batch=cfg.n_batch,
                               ram_cache_mb=cfg.ram_cache_mb, **cfg.extra)
    if cfg.backend == "openai":
        from expobench.agents.llm.openai_backend import OpenAIBackend

        if not cfg.base_url:
            raise ValueError("llm.base_url is required for backend 'openai'")
        return OpenAIBackend(cfg.base_url, cfg.model, api_key_env=cfg.api_key_env, server_kind=cfg.server_kind,
                             timeout_s=cfg.timeout_s, max_concurrency=cfg.extra.get("max_concurrency"))
    from expobench.agents.llm.vllm_backend import VLLMBackend

    return VLLMBackend(cfg.model, **cfg.extra)


def make_client(cfg: LLMConfig, cache: ResponseCache | None = None) -> LLMClient:
    from expobench.agents.llm.client import LLMClient

    return LLMClient(make_backend(cfg), cache, max_attempts=cfg.max_attempts, backoff_s=cfg.backoff_s,
                     backoff_max_s=cfg.backoff_max_s, deadline_s=cfg.deadline_s)
