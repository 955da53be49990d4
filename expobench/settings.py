"""Settings read from the environment: where the suite keeps its caches, and the embedded engine's threads; and
the one thread count that torch math whose results must not depend on the machine runs with."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def cache_root() -> Path:
    """The cache directory: ``$EXPOBENCH_CACHE``, default ``~/.cache/expobench`` (models, embeddings, pools, HPO
    evaluations, TSP optima, engine checks, checksums)."""
    return Path(os.environ.get("EXPOBENCH_CACHE", Path.home() / ".cache" / "expobench"))


def llm_threads() -> int:
    """Default CPU threads of the embedded engine (when ``llm.n_threads`` is not set): ``$EXPOBENCH_LLM_THREADS``,
    default all cores. Set it when several processes share the cores (test workers, Ray actors): llama.cpp's
    threads spin while they wait, so oversubscribed cores slow it down many times over."""
    return max(1, int(os.environ.get("EXPOBENCH_LLM_THREADS") or os.cpu_count() or 1))


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch on ``n`` CPU threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)


def one_torch_thread(fn: F) -> F:
    """Run ``fn`` with torch on one CPU thread. A CPU matrix product's float sums depend on how many threads
    split it, so without this a score network's fit, its predictions and the embeddings -- and through them
    EXPO's choices -- would differ between a local run (all cores) and a Ray worker (its ``num_cpus``), or
    between machines. With it they are bit for bit the same. CUDA work is unaffected."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch_threads(1):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
