"""Any OpenAI-compatible chat server (``vllm serve``, ``python -m llama_cpp.server``, hosted APIs).

The API key is read from the environment variable named in the config and lives only inside the ``openai``
client: it is never stored, logged, or shown in an error (messages are scrubbed of it). Output constraints use
each server's own request fields (``server_kind``):

- vLLM: ``structured_outputs`` = ``{"choice": [...]}`` / ``{"regex": ...}`` / ``{"json": schema}``;
- llama.cpp server: ``grammar`` (GBNF) for choice/regex, ``response_format`` json_object + schema for JSON.

Several engines: ``base_url`` may be a list (one server per GPU or node serving the same model, e.g. vLLM data
parallel). The requests of one ``generate`` call are then sent concurrently, each to the server with the fewest
requests outstanding (ties: the first listed); a request whose server cannot be reached or times out is sent once
to each other server before the error reaches the client, whose bounded retries (max_attempts, deadline_s) are
unchanged. Answers come back in request order. The cache key's model id names the sorted list of servers.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from expobench.agents.llm.grammar import choice_grammar, regex_grammar
from expobench.agents.llm.types import (
    Backend,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    Completion,
    Constraint,
    ContextTooLong,
    LLMError,
    LLMRequest,
)


def constraint_fields(c: Constraint | None, server_kind: str) -> dict[str, Any]:
    """Request fields (``extra_body`` / ``response_format``) that express ``c`` for this server kind."""
    if c is None:
        return {}
    if server_kind == "vllm":
        key = {"choice": "choice", "regex": "regex", "json_schema": "json"}[c.kind]
        value = list(c.choice) if c.choice is not None else c.regex if c.regex is not None else c.json_schema
        return {"extra_body": {"structured_outputs": {key: value}}}
    if c.json_schema is not None:
        return {"response_format": {"type": "json_object", "schema": c.json_schema}}
    gbnf = choice_grammar(c.choice) if c.choice is not None else regex_grammar(c.regex or "")
    return {"extra_body": {"grammar": gbnf}}


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, base_url: str | list[str], model: str, *, api_key_env: str | None = None,
                 server_kind: str = "vllm", timeout_s: float = 120.0, max_concurrency: int | None = None) -> None:
        try:
            import openai
        except ImportError:
            raise LLMError("the openai backend needs the openai package: pip install -e '.[llm]'") from None
        self._openai = openai
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key_env and not key:
            raise LLMError(f"environment variable {api_key_env} (llm.api_key_env) is not set")
        self._secret = key
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise LLMError("llm.base_url: no server URL given")
        # max_retries=0: retries are the LLMClient's job, with its own bounded backoff
        self.clients = [openai.OpenAI(base_url=u, api_key=key or "EMPTY", timeout=timeout_s, max_retries=0)
                        for u in urls]
        self.client = self.clients[0]
        self.timeout_s = timeout_s
        self.urls = urls
        self.outstanding = [0] * len(urls)  # requests in flight per server
        self.sent = [0] * len(urls)  # requests sent per server (statistics)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_concurrency or len(urls)) if len(urls) > 1 or max_concurrency else None
        self.model = model
        self.server_kind = server_kind
        where = urls[0] if len(urls) == 1 else ",".join(sorted(urls))
        self.model_id = f"{server_kind}:{model}@{where}"

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, server_kind={self.server_kind!r})"

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        jobs = [(req, i) for req in requests for i in range(req.n)]
        if self._pool is None:
            done = [self._one(req, i, None, self._budget_end()) for req, i in jobs]
        else:
            done = list(self._pool.map(lambda job: self._spread(*job), jobs))
        out: list[list[Completion]] = []
        k = 0
        for req in requests:
            out.append(done[k:k + req.n])
            k += req.n
        return out

    def _pick(self, exclude: set[int]) -> int | None:
        """The server with the fewest requests outstanding among those not in ``exclude``; counted as busy."""
        with self._lock:
            free = [k for k in range(len(self.urls)) if k not in exclude]
            if not free:
                return None
            k = min(free, key=lambda j: self.outstanding[j])
            self.outstanding[k] += 1
            self.sent[k] += 1
            return k

    def _spread(self, req: LLMRequest, sample_index: int) -> Completion:
        """One completion from the least busy server; on a connection failure or timeout, from each other server
        in turn; the last error is raised when none answered."""
        tried: set[int] = set()
        errors: list[LLMError] = []
        end = self._budget_end()
        while (k := self._pick(tried)) is not None:
            tried.add(k)
            try:
                return self._one(req, sample_index, self.clients[k], end)
            except (BackendUnavailable, BackendTimeout) as e:
                errors.append(e)
            finally:
                with self._lock:
                    self.outstanding[k] -= 1
            if end is not None and time.monotonic() >= end:
                break  # the request's time budget is spent: no other server is tried
        raise errors[-1]

    def _budget_end(self) -> float | None:
        """When the request starting now must be answered by (``time_budget_s`` from now), or None."""
        return None if self.time_budget_s is None else time.monotonic() + self.time_budget_s

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _one(self, req: LLMRequest, sample_index: int, client: Any = None, end: float | None = None) -> Completion:
        """One completion; ``end``: the monotonic time by which the request must be answered (its timeout is cut
        to what is left, never below 10 ms)."""
        oa = self._openai
        t0 = time.perf_counter()
        timeout = {} if end is None else {"timeout": max(min(self.timeout_s, end - time.monotonic()), 0.01)}
        try:
            resp = (client or self.client).chat.completions.create(
                model=self.model, messages=[{"role": m.role, "content": m.content} for m in req.messages],
                temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_tokens,
                seed=req.seed + sample_index, **constraint_fields(req.constraint, self.server_kind), **timeout,
            )
        except oa.APITimeoutError:
            raise BackendTimeout(f"{self.model_id}: request timed out") from None
        except oa.APIConnectionError as e:
            raise BackendUnavailable(self._scrub(f"{self.model_id}: cannot connect: {e}")) from None
        except oa.BadRequestError as e:
            msg = self._scrub(str(e))
            if "context" in msg.lower() or "too long" in msg.lower() or "maximum" in msg.lower():
                raise ContextTooLong(f"{self.model_id}: {msg}") from None
            raise LLMError(f"{self.model_id}: bad request: {msg}") from None
        except oa.APIStatusError as e:
            err = BackendUnavailable if e.status_code >= 500 or e.status_code == 429 else LLMError
            raise err(self._scrub(f"{self.model_id}: HTTP {e.status_code}: {e.message}")) from None
        except (ValueError, TypeError) as e:  # undecodable body
            raise BadResponse(self._scrub(f"{self.model_id}: malformed response: {e}")) from None
        latency = time.perf_counter() - t0
        try:
            choice = resp.choices[0]
            text = choice.message.content or ""
            usage = resp.usage
        except (AttributeError, IndexError, TypeError) as e:
            raise BadResponse(f"{self.model_id}: malformed response: {e}") from None
        finish = choice.finish_reason or "stop"
        return Completion(text, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0,
                          finish, latency, False, None)
