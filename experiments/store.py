"""The run store: one SQLite database (WAL) per experiment output directory.

Tables:

- ``meta(key, value)``: experiment name and resolved config (JSON).
- ``runs``: one row per (agent, seed) run -- run id ``env__agent__seed``, status (``running``/``done``), steps done,
  the run's own config (JSON), wall time.
- ``steps``: one row per decision -- action (JSON), reward, expected reward, optimal expected reward, optimal
  action (JSON), and ``record`` (JSON) for agent-specific fields (LLM text, parse status, optimiser choices).
- ``prompts``: each distinct (D, I) an LLM agent used, by ``di_hash`` (steps refer to it in their record).
- ``llm_calls``: every completion an agent consumed at a step, in order, so that a resumed run replays its
  committed prefix exactly without calling the model.

Steps are committed in groups: appended steps are committed as soon as ``commit_interval_s`` (0.2 s) has passed
since the previous commit, when the store is flushed or closed, and when the runner stops for any reason. With an
LLM a step takes far longer than the interval, so every step is committed when it is appended; with fast agents
the grouping saves a commit per decision. A run killed at any point resumes from its last committed step, losing
at most the fraction of a second of work in the open group (whose LLM answers are in the cache).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.agents.llm.types import Completion

STORE_FILE = "runs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, agent TEXT NOT NULL, kind TEXT NOT NULL, seed INTEGER NOT NULL,
    env_id TEXT NOT NULL, horizon INTEGER NOT NULL, status TEXT NOT NULL, steps_done INTEGER NOT NULL,
    config TEXT NOT NULL, wall_s REAL NOT NULL DEFAULT 0, started_at REAL, finished_at REAL
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, t INTEGER NOT NULL, action TEXT NOT NULL, reward REAL NOT NULL,
    expected_reward REAL, optimal_expected_reward REAL, optimal_action TEXT, record TEXT NOT NULL,
    PRIMARY KEY (run_id, t)
);
CREATE TABLE IF NOT EXISTS prompts (
    di_hash TEXT PRIMARY KEY, description TEXT NOT NULL, instruction TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_calls (
    run_id TEXT NOT NULL, t INTEGER NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,
    request_hash TEXT NOT NULL, text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
    prompt_tokens_evaluated INTEGER, finish_reason TEXT, latency_s REAL, cached INTEGER NOT NULL,
    PRIMARY KEY (run_id, t, seq)
);
"""


def to_jsonable(x: Any) -> Any:
    """numpy scalars/arrays and tuples → plain JSON values."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    return x


def _np_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def dumps(x: Any) -> str:
    """Sorted JSON of ``x``; numpy values become plain numbers and lists (tuples are lists)."""
    try:
        return json.dumps(x, sort_keys=True, allow_nan=True, default=_np_default)
    except TypeError:  # e.g. mixed key types that cannot be sorted: normalise first
        return json.dumps(to_jsonable(x), sort_keys=True, allow_nan=True)


@dataclass
class StepRow:
    run_id: str
    t: int
    action: Any
    reward: float
    expected_reward: float | None
    optimal_expected_reward: float | None
    optimal_action: Any
    record: dict[str, Any]


@dataclass
class CallRow:
    """One completion consumed by a run at step ``t`` (``seq`` orders them within the step)."""

    role: str
    request_hash: str
    completion: Completion


class RunStore:
    """Open (creating if needed) the store in ``out``. Use as a context manager or call :meth:`close`."""

    def __init__(self, out: str | Path, create: bool = True, commit_interval_s: float = 0.2) -> None:
        self.out = Path(out)
        self.commit_interval_s = commit_interval_s
        self._last_commit = time.monotonic()
        self._progress: dict[str, list] = {}  # run id -> [steps done, wall seconds] of the open group
        self.path = self.out / STORE_FILE
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no run store in {self.out} (expected {self.path})")
        self.out.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.flush()
        self.db.close()

    def flush(self) -> None:
        """Commit the open group of steps, if any."""
        self._write_progress()
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self._last_commit = time.monotonic()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ----------------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- runs ----------------------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        self._write_progress()
        cur = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([c[0] for c in cur.description], row))
        out["config"] = json.loads(out["config"])
        return out

    def runs(self) -> list[dict[str, Any]]:
        self._write_progress()
        cur = self.db.execute("SELECT * FROM runs ORDER BY agent, seed")
        cols = [c[0] for c in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        for r in rows:
            r["config"] = json.loads(r["config"])
        return rows

    def create_run(self, run_id: str, agent: str, kind: str, seed: int, env_id: str, horizon: int,
                   config: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO runs (run_id, agent, kind, seed, env_id, horizon, status, steps_done, config, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'running', 0, ?, ?)",
            (run_id, agent, kind, seed, env_id, horizon, dumps(config), time.time()),
        )

    def finish_run(self, run_id: str) -> None:
        self.db.execute(
            "UPDATE runs SET status = 'done', finished_at = ? WHERE run_id = ?", (time.time(), run_id)
        )

    # -- steps ---------------------------------------------------------------------------------------------
    def append_steps(self, rows: Iterable[tuple[StepRow, list[CallRow], float, MetaPrompt | None]]) -> None:
        """Append one step for each of several runs, all or none, into the open group (see the module docstring).
        Each item: (step, LLM calls consumed, wall seconds, meta-prompt used or None)."""
        prompts, steps, calls, progress = [], [], [], []
        for step, step_calls, wall, mp in rows:
            if mp is not None:
                prompts.append((mp.di_digest(), mp.description, mp.instruction))
            steps.append((step.run_id, step.t, dumps(step.action), float(step.reward), step.expected_reward,
                          step.optimal_expected_reward, dumps(step.optimal_action), dumps(step.record)))
            for seq, c in enumerate(step_calls):
                comp = c.completion
                calls.append((step.run_id, step.t, seq, c.role, c.request_hash, comp.text, comp.prompt_tokens,
                              comp.completion_tokens, comp.prompt_tokens_evaluated, comp.finish_reason,
                              comp.latency_s, int(comp.cached)))
            progress.append((step.t + 1, wall, step.run_id))
        self._insert(prompts, steps, calls, progress)

    def append_plain_steps(self, steps: list[tuple[str, int, int, float, float, float, int]], wall: float) -> None:
        """Append one step for each of several runs of a classical bandit agent (no record, no LLM calls): items
        ``(run_id, t, arm, reward, expected, optimal, best arm)``, stored exactly as :meth:`append_steps` stores
        the same steps (integers as JSON text, an empty record).

        No savepoint here (it would double the cost of this path): if the insert fails, the whole open group is
        rolled back, as a crash would lose it, and the error propagates; a re-run resumes from the last commit."""
        rows = [(run_id, t, str(arm), reward, expected, optimal, str(best), "{}")
                for run_id, t, arm, reward, expected, optimal, best in steps]
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self._progress.clear()
            raise
        self._add_progress([(t + 1, wall, run_id) for run_id, t, *_ in steps])

    def _insert(self, prompts: list[tuple], steps: list[tuple], calls: list[tuple], progress: list[tuple]) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("SAVEPOINT step")
        try:
            if prompts:
                self.db.executemany("INSERT OR IGNORE INTO prompts VALUES (?, ?, ?)", prompts)
            self.db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)", steps)
            if calls:
                self.db.executemany("INSERT INTO llm_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", calls)
        except BaseException:
            self.db.execute("ROLLBACK TO step")
            self.db.execute("RELEASE step")
            raise
        self.db.execute("RELEASE step")
        self._add_progress(progress)

    def _add_progress(self, progress: list[tuple[int, float, str]]) -> None:
        """Note ``(steps done, wall seconds, run id)`` of appended steps, and commit the group when it is due. The
        runs' progress is written once per group, in the same transaction as its steps (:meth:`_write_progress`)."""
        for steps_done, wall, run_id in progress:
            pending = self._progress.setdefault(run_id, [0, 0.0])
            pending[0] = steps_done
            pending[1] += wall
        if time.monotonic() - self._last_commit >= self.commit_interval_s:
            self.flush()

    def _write_progress(self) -> None:
        """Write the open group's run progress (steps done, wall time) into its transaction."""
        if self._progress:
            self.db.executemany("UPDATE runs SET steps_done = ?, wall_s = wall_s + ? WHERE run_id = ?",
                                [(done, wall, run_id) for run_id, (done, wall) in self._progress.items()])
            self._progress.clear()

    def steps(self, run_id: str) -> list[StepRow]:
        cur = self.db.execute(
            "SELECT run_id, t, action, reward, expected_reward, optimal_expected_reward, optimal_action, record"
            " FROM steps WHERE run_id = ? ORDER BY t", (run_id,),
        )
        return [
            StepRow(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]))
            for r in cur.fetchall()
        ]

    def calls(self, run_id: str) -> dict[int, list[CallRow]]:
        """Stored completions of a run by step, in consumption order."""
        cur = self.db.execute(
            "SELECT t, role, request_hash, text, prompt_tokens, completion_tokens, prompt_tokens_evaluated,"
            " finish_reason, latency_s, cached FROM llm_calls WHERE run_id = ? ORDER BY t, seq", (run_id,),
        )
        out: dict[int, list[CallRow]] = {}
        for t, role, h, text, pt, ct, pte, fr, lat, cached in cur.fetchall():
            comp = Completion(text, pt or 0, ct or 0, fr or "stop", lat or 0.0, bool(cached), pte)
            out.setdefault(t, []).append(CallRow(role, h, comp))
        return out

    def prompt(self, di_hash: str) -> tuple[str, str] | None:
        """(D, I) text of a stored meta-prompt."""
        row = self.db.execute("SELECT description, instruction FROM prompts WHERE di_hash = ?", (di_hash,)).fetchone()
        return (row[0], row[1]) if row else None

    def call_stats(self) -> dict[str, dict[str, float]]:
        """Per run: LLM calls, cache hits, prompt/completion tokens, evaluated prompt tokens, latency."""
        cur = self.db.execute(
            "SELECT run_id, COUNT(*), SUM(cached), SUM(prompt_tokens), SUM(completion_tokens),"
            " SUM(COALESCE(prompt_tokens_evaluated, prompt_tokens)), SUM(latency_s) FROM llm_calls GROUP BY run_id"
        )
        keys = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "prompt_tokens_evaluated", "latency_s")
        return {r[0]: dict(zip(keys, (v or 0 for v in r[1:]))) for r in cur.fetchall()}
