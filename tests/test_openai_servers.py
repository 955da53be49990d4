"""The openai backend over several servers (one engine per GPU or node): requests spread by least outstanding
requests, answers in request order, a dead server's requests answered by the others, retries unchanged."""

import time

import pytest

from expobench.agents.llm.client import LLMClient
from expobench.agents.llm.config import LLMConfig, make_client
from expobench.agents.llm.openai_backend import OpenAIBackend
from expobench.agents.llm.types import BackendUnavailable, Constraint, LLMRequest, Message
from tests.llm_fake_server import FakeServer


def requests(k: int) -> list[LLMRequest]:
    return [LLMRequest([Message("user", f"question {i}")], max_tokens=4, seed=i,
                       constraint=Constraint(choice=(f"a{i}", "b"))) for i in range(k)]


def test_requests_spread_over_servers_and_answers_keep_request_order():
    with FakeServer(["timeout"] * 3, delay=0.3) as slow, FakeServer() as fast:
        backend = OpenAIBackend([slow.url, fast.url], "m", max_concurrency=2)
        out = LLMClient(backend).generate(requests(8))
        assert [c[0].text for c in out] == [f"a{i}" for i in range(8)]  # each answer is its own request's
        # both served; the slow server (busy 0.3 s per request) got fewer: least outstanding, not round-robin
        assert len(slow.requests) + len(fast.requests) == 8
        assert 1 <= len(slow.requests) < len(fast.requests)
        assert backend.outstanding == [0, 0]


def test_a_dead_server_is_skipped_and_a_single_url_keeps_its_model_id():
    with FakeServer() as live:
        dead = "http://127.0.0.1:9/v1"  # discard port: nothing listens
        cfg = LLMConfig(backend="openai", model="m", base_url=[dead, live.url], max_attempts=1)
        out = make_client(cfg).generate(requests(4))
        assert [c[0].text for c in out] == ["a0", "a1", "a2", "a3"] and len(live.requests) == 4
        single = OpenAIBackend(live.url, "m")
        assert single.model_id == f"vllm:m@{live.url}" and single._pool is None  # as before: one by one


def test_every_server_down_raises_the_transient_error_for_the_client_to_retry():
    client = make_client(LLMConfig(backend="openai", model="m", base_url=["http://127.0.0.1:9/v1",
                                                                          "http://127.0.0.1:7/v1"],
                                   max_attempts=2, backoff_s=0.01))
    t0 = time.perf_counter()
    with pytest.raises(BackendUnavailable, match="after 2 attempt"):
        client.generate(requests(2))
    assert time.perf_counter() - t0 < 30
    assert client.stats["retries"] == 1
