"""Shared test configuration and fixtures. ``pytester`` runs inner pytest sessions (the crash-isolation test
uses it). ``scripted_llm`` is the one fake LLM of the unit tests: the scripted backend (real HTTP faults use
``tests/llm_fake_server.py``)."""

import pytest

pytest_plugins = ("pytester",)


@pytest.fixture
def scripted_llm():
    """``scripted_llm(texts)``: a scripted backend answering with ``texts`` in turn (``.requests`` records what
    it was asked); ``scripted_llm(policy="random_choice")`` for another policy."""
    from expobench.agents.llm.scripted import ScriptedBackend

    def make(texts=None, policy="fixed", **args):
        return ScriptedBackend(policy, {"texts": list(texts)} if texts is not None else args)

    return make


@pytest.fixture
def tsp_with_baseline():
    """``tsp_with_baseline(out, **fields)``: a TSP-10 experiment over seeds 0 and 1 with nearest neighbour (one tour
    per step) and OPRO with 4 proposals per step, answered by the scripted backend with valid, distinct tours;
    ``fields`` (``horizon``, ``evaluations``) are added to the config."""
    import itertools

    from expobench.experiments.config import parse_config

    tours = [f"<trace>{','.join(map(str, (0, *p)))}</trace>"
             for p in itertools.islice(itertools.permutations(range(1, 10)), 0, 400, 7)]

    def make(out, **fields):
        return parse_config({"name": "t", "env": {"id": "expobench/TSP-10-v0"}, "seeds": [0, 1], "out": str(out),
                             "agents": [{"name": "nn", "kind": "tsp_nearest_neighbour"},
                                        {"name": "opro", "kind": "llm_opro", "params": {"n_proposals": 4}}],
                             "llm": {"backend": "scripted", "policy": "fixed", "policy_args": {"texts": tours}},
                             **fields})

    return make


def pytest_configure(config):
    """Under pytest-xdist, each worker gets its share of the cores for torch and the embedded engine (two workers
    on two cores would otherwise each start two threads and contend; llama.cpp's spinning threads suffer most)."""
    import os

    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        share = max(1, (os.cpu_count() or 1) // int(workers))
        torch.set_num_threads(share)
        os.environ.setdefault("EXPOBENCH_LLM_THREADS", str(share))
