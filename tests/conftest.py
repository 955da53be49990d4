"""Shared test configuration. ``pytester`` runs inner pytest sessions (the crash-isolation test uses it)."""

pytest_plugins = ("pytester",)


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
