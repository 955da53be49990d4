"""The one LLM client: response cache in front of a backend, bounded retries with exponential backoff.

``generate(requests)`` returns ``request.n`` completions per request. Cached samples are served from the cache;
all missing samples go to the backend in ONE ``backend.generate`` call (a request missing some samples is sent
once per missing sample index with ``n=1`` and seed ``seed + index``, so sample ``i`` always maps to the same
cache entry). Transient errors (:class:`LLMError` with ``transient``) are retried up to ``max_attempts`` calls
in all, sleeping ``backoff_s · 2^k`` (capped at ``backoff_max_s``), and no retry starts once ``deadline_s``
seconds have passed since the first attempt; each attempt may spend only what is left of the deadline (the
backend's ``time_budget_s``), so a server that never answers costs at most ``deadline_s``, not ``max_attempts``
timeouts; then the last error is raised.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable

from expobench.agents.llm.cache import ResponseCache, cache_key
from expobench.agents.llm.types import Backend, Completion, LLMError, LLMRequest


class LLMClient:
    def __init__(self, backend: Backend, cache: ResponseCache | None = None, *, max_attempts: int = 4,
                 backoff_s: float = 0.5, backoff_max_s: float = 8.0, deadline_s: float | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.backend = backend
        self.cache = cache
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.deadline_s = deadline_s
        self._sleep = sleep
        self._clock = clock
        self.stats: Counter[str] = Counter()

    def _key(self, req: LLMRequest, i: int) -> str:
        return cache_key(self.backend.name, self.backend.model_id, req, i)

    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        out: list[list[Completion | None]] = [[None] * r.n for r in requests]
        missing: list[tuple[int, int, LLMRequest]] = []
        for ri, req in enumerate(requests):
            for i in range(req.n):
                hit = self.cache.get(self._key(req, i)) if self.cache is not None else None
                if hit is not None:
                    out[ri][i] = hit
                    self.stats["cache_hits"] += 1
                else:
                    sub = req if req.n == 1 else dataclasses.replace(req, n=1, seed=req.seed + i)
                    missing.append((ri, i, sub))
        if missing:
            results = self._call_with_retries([sub for _, _, sub in missing])
            for (ri, i, _), comps in zip(missing, results):
                comp = comps[0]
                out[ri][i] = comp
                if self.cache is not None:
                    self.cache.put(self._key(requests[ri], i), comp)
                self.stats["prompt_tokens"] += comp.prompt_tokens
                self.stats["completion_tokens"] += comp.completion_tokens
        self.stats["requests"] += len(requests)
        return [[c for c in row if c is not None] for row in out]

    def _call_with_retries(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        start = self._clock()
        for attempt in range(self.max_attempts):
            if self.deadline_s is not None:
                self.backend.time_budget_s = max(self.deadline_s - (self._clock() - start), 0.0)
            try:
                self.stats["backend_calls"] += 1
                results = self.backend.generate(requests)
                if len(results) != len(requests) or any(len(r) != 1 for r in results):
                    raise _BadShape(f"backend returned {len(results)} results for {len(requests)} requests")
                return results
            except LLMError as e:
                self.stats["errors"] += 1
                delay = min(self.backoff_s * 2**attempt, self.backoff_max_s)
                late = self.deadline_s is not None and self._clock() - start + delay >= self.deadline_s
                if not e.transient or attempt == self.max_attempts - 1 or late:
                    self.stats["failures"] += 1
                    why = f", past the {self.deadline_s:g} s deadline" if late and e.transient else ""
                    raise type(e)(f"{e} (after {attempt + 1} attempt(s) to {self.backend.name}{why})") from e
                self.stats["retries"] += 1
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


class _BadShape(LLMError):
    transient = True
