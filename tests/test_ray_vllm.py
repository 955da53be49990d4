"""A vLLM engine per Ray actor (``make test-vllm``): two workers of a local Ray cluster each load the offline
engine once and run their shard; the store equals the local executor's. Skipped where vllm or ray is missing or
``EXPOBENCH_VLLM_MODEL`` is not set."""

import os

import pytest

vllm = pytest.importorskip("vllm")
ray = pytest.importorskip("ray")

from expobench.experiments.config import parse_config  # noqa: E402
from expobench.experiments.runner import run_experiment  # noqa: E402
from tests.test_ray_units import store_rows  # noqa: E402

pytestmark = pytest.mark.vllm
MODEL = os.environ.get("EXPOBENCH_VLLM_MODEL")
if not MODEL:
    pytest.skip("set EXPOBENCH_VLLM_MODEL to a Hugging Face model directory", allow_module_level=True)


def test_a_vllm_engine_per_actor_stores_what_the_local_run_stores(tmp_path):
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        for kind in ("local", "ray"):
            cfg = {"name": "v", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 3, "seeds": [0, 1],
                   "agents": [{"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSN0"}}],
                   "llm": {"backend": "vllm", "model": MODEL, "extra": {"enforce_eager": True, "max_model_len": 2048}},
                   "executor": {"kind": kind, "workers": 2}, "out": str(tmp_path / kind)}
            run_experiment(parse_config(cfg), progress=False).close()
    finally:
        ray.shutdown()
    local, on_ray = store_rows(tmp_path / "local"), store_rows(tmp_path / "ray")
    assert len(local[1]) == 6 and on_ray == local
