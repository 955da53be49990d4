"""Settings read from the environment: where the suite keeps its caches, and the embedded engine's threads."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache directory: ``$EXPOBENCH_CACHE``, default ``~/.cache/expobench`` (models, embeddings, pools, HPO
    evaluations, TSP optima, engine checks, checksums)."""
    return Path(os.environ.get("EXPOBENCH_CACHE", Path.home() / ".cache" / "expobench"))


def llm_threads() -> int:
    """Default CPU threads of the embedded engine (when ``llm.n_threads`` is not set): ``$EXPOBENCH_LLM_THREADS``,
    default all cores. Set it when several processes share the cores (test workers, Ray actors): llama.cpp's
    threads spin while they wait, so oversubscribed cores slow it down many times over."""
    return max(1, int(os.environ.get("EXPOBENCH_LLM_THREADS") or os.cpu_count() or 1))
