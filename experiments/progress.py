"""Progress over total decisions: a rich bar on a terminal; elsewhere (batch jobs, CI, log files) a plain line on
stderr every ``EXPOBENCH_PROGRESS_INTERVAL`` seconds (default 30) and at the end; nothing when disabled."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; renders ``label  ━━━━  done/total  elapsed  remaining`` on stderr."""
    if not enabled or total == 0:
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        yield from _plain_lines(total, label, _interval())
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("decisions"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _plain_lines(total: int, label: str, interval: float) -> Iterator[Callable[[int], None]]:
    """``label: done/total decisions (p %), elapsed s, about r s left`` on stderr, at most every ``interval``
    seconds, and once at the end."""
    start = last = time.monotonic()
    done = 0

    def line() -> None:
        elapsed = time.monotonic() - start
        left = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        print(f"{label}: {done}/{total} decisions ({100 * done / total:.0f} %), {elapsed:.0f} s{left}",
              file=sys.stderr, flush=True)

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= interval:
            last = time.monotonic()
            line()

    yield advance
    line()


def _interval(default: float = 30.0) -> float:
    """``EXPOBENCH_PROGRESS_INTERVAL`` in seconds (a non-number or a negative number gives the default)."""
    try:
        value = float(os.environ.get("EXPOBENCH_PROGRESS_INTERVAL", default))
    except ValueError:
        return default
    return value if value >= 0 else default
