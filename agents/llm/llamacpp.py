"""The embedded backend: llama-cpp-python on the CPU (the default).

The model is loaded once per process (shared by every client that names the same file and settings). Output
constraints become GBNF grammars (choice, regex) or llama.cpp's JSON-schema mode.

Prefix reuse: requests run one after the other, and lockstep runs interleave, so reusing only the previous
request's KV cache would lose each run's prefix. The backend therefore keeps llama.cpp states in RAM
(``LlamaRAMCache``, ``ram_cache_mb``) and starts every request from the saved state with the longest common token
prefix: a run's static (D, I) part and unchanged history are evaluated once. ``Completion.prompt_tokens_evaluated``
counts the prompt tokens actually evaluated.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from expobench.agents.llm.grammar import choice_grammar, regex_grammar
from expobench.agents.llm.llamacpp_engine import extra_buffer_types_default, load_llama, preflight
from expobench.agents.llm.models import resolve_model
from expobench.agents.llm.types import (
    Backend,
    BadResponse,
    Completion,
    Constraint,
    ContextTooLong,
    LLMRequest,
    ModelNotInstalled,
)
from expobench.settings import llm_threads

_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


class _EvalCounter:
    """Wraps ``Llama.eval`` to count the tokens actually evaluated (prompt tokens after prefix reuse, plus one
    per generated token)."""

    def __init__(self, llm: Any) -> None:
        self.n = 0
        self._eval = llm.eval

    def __call__(self, tokens: Any) -> Any:
        self.n += len(tokens)
        return self._eval(tokens)


def compact_ram_cache(capacity_bytes: int) -> Any:
    """A ``LlamaRAMCache`` that bounds what it really holds.

    llama-cpp-python's states carry a copy of the logits buffer (``n_batch × n_vocab`` float32: about 300 MB for
    Qwen's 152k-token vocabulary) that ``LlamaRAMCache`` does not count against its capacity, so memory grows by that
    much per saved prefix. A restored state always re-evaluates at least one token before sampling
    (``Llama.load_state`` sets ``_requires_eval``), so those logits are never read: they are replaced by one zero
    row (it broadcasts on load), and the size counts every array kept."""
    import numpy as np
    from llama_cpp import LlamaRAMCache

    class CompactRAMCache(LlamaRAMCache):
        @property
        def cache_size(self) -> int:
            return sum(s.llama_state_size + s.scores.nbytes + s.input_ids.nbytes for s in self.cache_state.values())

        def __setitem__(self, key: Any, value: Any) -> None:
            value.scores = np.zeros((1, value.scores.shape[-1]), dtype=value.scores.dtype)
            super().__setitem__(key, value)

    return CompactRAMCache(capacity_bytes=capacity_bytes)


def _load(path: str, n_ctx: int, n_threads: int, n_batch: int, ram_cache_mb: int, use_extra_bufts: bool,
          **kwargs: Any) -> Any:
    key = (path, n_ctx, n_threads, n_batch, ram_cache_mb, use_extra_bufts, tuple(sorted(kwargs.items())))
    with _LOCK:
        if key not in _MODELS:
            llm = load_llama(path, use_extra_bufts, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch,
                             verbose=False, **kwargs)
            llm.eval = _EvalCounter(llm)
            if ram_cache_mb > 0:
                llm.set_cache(compact_ram_cache(ram_cache_mb << 20))
            _MODELS[key] = llm
        return _MODELS[key]


class LlamaCppBackend(Backend):
    """``use_extra_bufts``: llama.cpp's extra CPU buffer types (weight repacking, AMX); ``None`` = on unless a
    build with AVX-512/AMX code meets an AMX CPU (see ``llamacpp_engine``). Before the first load of a model with
    given settings, the engine is smoke-tested in a child process (``llamacpp_engine.preflight``): a native
    crash raises :class:`EngineCrashed` here instead of killing the interpreter."""

    name = "llamacpp"

    def __init__(self, model: str = "qwen2.5-coder-1.5b-instruct", *, n_ctx: int = 4096,
                 n_threads: int | None = None, n_batch: int = 512, ram_cache_mb: int = 2048,
                 use_extra_bufts: bool | None = None, **engine_kwargs: Any) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise ModelNotInstalled("the llamacpp backend needs llama-cpp-python: pip install -e '.[llm]'") from None
        path, sha = resolve_model(model)
        self.path = path
        self.model_id = f"{model if not model.endswith('.gguf') else path.name}@{sha[:16]}"
        if use_extra_bufts is None:
            use_extra_bufts = extra_buffer_types_default()
        preflight(str(path), sha, use_extra_bufts)
        self.llm = _load(str(path), n_ctx, n_threads or llm_threads(), n_batch, ram_cache_mb,
                         use_extra_bufts, **engine_kwargs)
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
        counter: _EvalCounter = self.llm.eval
        before = counter.n
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
        completion_tokens = int(usage.get("completion_tokens", 0))
        # every generated token but the last is fed back through eval
        evaluated = max(counter.n - before - max(completion_tokens - 1, 0), 0)
        return Completion(text, prompt_tokens, completion_tokens, choice.get("finish_reason") or "stop", latency,
                          False, evaluated)

    def reset(self) -> None:
        """Forget the KV cache (makes the next generation independent of the previous request)."""
        self.llm.reset()
