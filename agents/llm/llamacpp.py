"""The embedded backend: llama-cpp-python on the CPU (the default).

The model is loaded once per process (shared by every client that names the same file and settings). Output
constraints become GBNF grammars (choice, regex) or llama.cpp's JSON-schema mode. Requests run one after the
other; llama.cpp reuses the KV cache of the longest common token prefix with the previous request, so a static
(D, I) prefix is evaluated once -- ``Completion.prompt_tokens_evaluated`` reports the tokens actually evaluated.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from agents.llm.grammar import choice_grammar, regex_grammar
from agents.llm.models import resolve_model
from agents.llm.types import (
    BadResponse,
    Completion,
    Constraint,
    ContextTooLong,
    LLMRequest,
    ModelNotInstalled,
)

_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def _load(path: str, n_ctx: int, n_threads: int, n_batch: int, **kwargs: Any) -> Any:
    key = (path, n_ctx, n_threads, n_batch, tuple(sorted(kwargs.items())))
    with _LOCK:
        if key not in _MODELS:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ModelNotInstalled(
                    "the llamacpp backend needs llama-cpp-python: pip install -e '.[llm]'"
                ) from None
            _MODELS[key] = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch,
                                 verbose=False, **kwargs)
        return _MODELS[key]


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, model: str = "qwen2.5-coder-1.5b-instruct", *, n_ctx: int = 4096,
                 n_threads: int | None = None, n_batch: int = 512, **engine_kwargs: Any) -> None:
        path, sha = resolve_model(model)
        self.path = path
        self.model_id = f"{model if not model.endswith('.gguf') else path.name}@{sha[:16]}"
        self.llm = _load(str(path), n_ctx, n_threads or os.cpu_count() or 1, n_batch, **engine_kwargs)
        self._grammars: dict[str, Any] = {}

    def _constraint_kwargs(self, c: Constraint | None) -> dict[str, Any]:
        if c is None:
            return {}
        if c.json_schema is not None:
            return {"response_format": {"type": "json_object", "schema": c.json_schema}}
        from llama_cpp import LlamaGrammar

        gbnf = choice_grammar(c.choice) if c.choice is not None else regex_grammar(c.regex or "")
        if gbnf not in self._grammars:
            self._grammars[gbnf] = LlamaGrammar.from_string(gbnf, verbose=False)
        return {"grammar": self._grammars[gbnf]}

    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        return [[self._one(req, i) for i in range(req.n)] for req in requests]

    def _one(self, req: LLMRequest, sample_index: int) -> Completion:
        previous = list(self.llm._input_ids)
        t0 = time.perf_counter()
        try:
            resp = self.llm.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in req.messages],
                temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_tokens,
                seed=req.seed + sample_index, **self._constraint_kwargs(req.constraint),
            )
        except ValueError as e:
            if "context window" in str(e) or "exceed" in str(e):
                raise ContextTooLong(str(e)) from None
            raise BadResponse(f"llama.cpp failed: {e}") from None
        latency = time.perf_counter() - t0
        try:
            choice = resp["choices"][0]
            text = choice["message"]["content"] or ""
            usage = resp.get("usage", {})
        except (KeyError, IndexError, TypeError) as e:
            raise BadResponse(f"unexpected llama.cpp response: {e}") from None
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        prompt_ids = list(self.llm._input_ids[:prompt_tokens])
        reused = 0
        for a, b in zip(previous, prompt_ids):
            if a != b:
                break
            reused += 1
        evaluated = max(prompt_tokens - reused, 1 if prompt_tokens else 0)
        return Completion(text, prompt_tokens, int(usage.get("completion_tokens", 0)),
                          choice.get("finish_reason") or "stop", latency, False, evaluated)

    def reset(self) -> None:
        """Forget the KV cache (makes the next generation independent of the previous request)."""
        self.llm.reset()
