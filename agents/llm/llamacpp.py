"""The embedded backend: llama-cpp-python on the CPU (the default).

The model is loaded once per process (shared by every client that names the same file and settings). Output
constraints become GBNF grammars (choice, regex) or llama.cpp's JSON-schema mode.

Prefix reuse: requests run one after the other, and lockstep runs interleave, so reusing only the previous
request's KV cache would lose each run's prefix. The backend therefore keeps llama.cpp states in RAM
(``ram_cache_mb``) and starts every request from the saved state with the longest common token prefix, cut at
fixed block boundaries so that an answer never depends on what was evaluated before (:class:`BlockPrefixes`): a
run's static (D, I) part and unchanged history are evaluated once. ``Completion.prompt_tokens_evaluated`` counts
the prompt tokens actually evaluated.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np

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

_MODELS: dict[tuple[Any, ...], BlockPrefixes] = {}
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


class BlockPrefixes:
    """Prefix reuse that never changes an answer: the KV cache of a prompt is a function of its tokens alone.

    llama.cpp's logits for a token depend on how the prompt was cut into evaluation batches: a one-token batch
    takes a different matrix kernel than a larger one (and with repacked weights, rows left over from groups of
    4 do too), so the same prompt evaluated after a different earlier request -- with a different cached prefix
    to resume from -- can give logits that differ by ~0.5 and flip a greedy near-tie. Then a run's answers would
    depend on which runs share its engine (lockstep companions, Ray shards, seed subsets).

    So prompts are cut at fixed points: tokens ``[0, F)`` with ``F = BLOCK·⌊(n − 1)/BLOCK⌋`` are evaluated in
    blocks of exactly ``BLOCK`` tokens aligned at multiples of ``BLOCK``, the rest ``[F, n)`` in one batch, and a
    cached state (the saved one with the longest common prefix, or the live context) is resumed only up to a
    block boundary. Every token of a prompt is thus computed in the same
    batch shape, with the same KV before it, whatever was evaluated before; the cost is re-evaluating up to
    ``BLOCK − 1`` tokens behind the longest cached prefix.

    States at block boundaries are kept in RAM, least recently used first out, within ``capacity_bytes``; each
    holds llama.cpp's state (the KV cells) and the token ids, not llama-cpp-python's logits buffer (a restored
    state always evaluates at least one token before sampling). The live context is reused the same way, up to
    its last block boundary."""

    BLOCK = 32

    def __init__(self, llm: Any, capacity_bytes: int) -> None:
        self.llm = llm
        self.capacity_bytes = capacity_bytes
        self.block = min(self.BLOCK, int(llm.n_batch))
        self.states: OrderedDict[bytes, tuple[np.ndarray, bytes]] = OrderedDict()  # ids -> (ids, llama.cpp state)
        self.size = 0
        self.live = np.zeros(0, dtype=np.int32)  # the live context's tokens up to its last block boundary
        self._generate = llm.generate
        llm.generate = self.generate  # every completion path (chat or not) goes through generate

    def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
        self.prepare(list(tokens))
        return self._generate(tokens, *args, **kwargs)

    def prepare(self, tokens: list[int]) -> None:
        """Leave exactly ``tokens[:F]`` in the context, evaluated block by block (``generate`` then evaluates
        ``tokens[F:]`` in one batch: it resumes from the longest common prefix, which is ``F``)."""
        llm, b = self.llm, self.block
        frontier = b * ((len(tokens) - 1) // b)
        ids = np.asarray(tokens[:frontier], dtype=np.int32)
        live = self.live
        intact = llm.n_tokens >= len(live) and np.array_equal(llm.input_ids[:len(live)], live)
        start, source = (self._usable(live, ids) if intact else 0), None
        for key, (done, _) in self.states.items():
            usable = self._usable(done, ids)
            if usable > start:
                start, source = usable, key
        if source is not None:
            self.states.move_to_end(source)
            self._restore(*self.states[source])
        llm.n_tokens = start  # eval drops the KV cells from here on
        for c in range(start, frontier, b):
            llm.eval(tokens[c:c + b])
        self.live = ids
        if frontier and self.capacity_bytes > 0 and ids.tobytes() not in self.states:
            self._save(ids)

    def _usable(self, done: np.ndarray, ids: np.ndarray) -> int:
        """How much of ``ids`` a context holding ``done`` (evaluated block by block) can keep: their common
        prefix, down to a block boundary."""
        n = min(len(done), len(ids))
        differ = np.flatnonzero(done[:n] != ids[:n])
        common = int(differ[0]) if differ.size else n
        return self.block * (common // self.block)

    def _save(self, ids: np.ndarray) -> None:
        import llama_cpp

        ctx = self.llm._ctx.ctx
        buf = (ctypes.c_uint8 * int(llama_cpp.llama_state_get_size(ctx)))()
        state = ctypes.string_at(buf, int(llama_cpp.llama_state_get_data(ctx, buf, len(buf))))
        self.states[ids.tobytes()] = (ids, state)
        self.size += len(state) + ids.nbytes
        while self.size > self.capacity_bytes and self.states:
            _, (old_ids, old) = self.states.popitem(last=False)
            self.size -= len(old) + old_ids.nbytes

    def _restore(self, ids: np.ndarray, state: bytes) -> None:
        import llama_cpp

        llm = self.llm
        data = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, data, len(state)) != len(state):
            raise BadResponse("llama.cpp could not restore a saved KV state")
        llm.input_ids[:len(ids)] = ids
        llm.n_tokens = len(ids)
        llm._requires_eval = True


def _load(path: str, n_ctx: int, n_threads: int, n_batch: int, ram_cache_mb: int, use_extra_bufts: bool,
          **kwargs: Any) -> BlockPrefixes:
    """The process's engine for these settings (loaded once), with its prefix states."""
    key = (path, n_ctx, n_threads, n_batch, ram_cache_mb, use_extra_bufts, tuple(sorted(kwargs.items())))
    with _LOCK:
        if key not in _MODELS:
            llm = load_llama(path, use_extra_bufts, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch,
                             verbose=False, **kwargs)
            llm.eval = _EvalCounter(llm)
            _MODELS[key] = BlockPrefixes(llm, ram_cache_mb << 20)
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
        self.prefixes = _load(str(path), n_ctx, n_threads or llm_threads(), n_batch, ram_cache_mb,
                              use_extra_bufts, **engine_kwargs)
        self.llm = self.prefixes.llm
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
        """Empty the live context (saved prefix states stay; answers never depend on either)."""
        self.llm.reset()
