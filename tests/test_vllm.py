"""The offline vLLM backend (skipped where vllm is not installed)."""

import os

import pytest

vllm = pytest.importorskip("vllm")

from agents.llm.config import LLMConfig, make_client  # noqa: E402
from agents.llm.types import Constraint, LLMRequest, chat  # noqa: E402


@pytest.mark.vllm
def test_vllm_backend_batch_of_constrained_requests():
    model = os.environ.get("EXPOBENCH_VLLM_MODEL")
    if not model:
        pytest.skip("set EXPOBENCH_VLLM_MODEL to a Hugging Face model directory")
    client = make_client(LLMConfig(backend="vllm", model=model, extra={"enforce_eager": True}))
    arms = ("blue", "green", "red")
    out = client.generate([LLMRequest(chat(None, "Pick a colour."), temperature=1.0, seed=s,
                                      constraint=Constraint(choice=arms)) for s in range(16)])
    assert all(row[0].text in arms and row[0].completion_tokens > 0 for row in out)
