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

Integrity: each step row carries ``digest``, a hash of its stored content (:func:`step_digest`), written with the
row. Readers check it while decoding the rows (:meth:`RunStore.steps`), together with the step numbers (0..n-1
without gaps) and, for a finished run, the count of its rows against ``runs.steps_done``; a mismatch raises
:class:`StoreCorrupt` rather than returning wrong numbers. Rows of stores written before the column existed have no
digest and are read unverified. :meth:`RunStore.verify` checks a whole store (``expobench verify OUT``).
A store opened with ``create=False`` is opened read-only, so that a finished store on read-only media can be read.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from hashlib import sha256
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
    config TEXT NOT NULL, wall_s REAL NOT NULL DEFAULT 0, started_at REAL, finished_at REAL, digest TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, t INTEGER NOT NULL, action TEXT NOT NULL, reward REAL NOT NULL,
    expected_reward REAL, optimal_expected_reward REAL, optimal_action TEXT, record TEXT NOT NULL, digest TEXT,
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


_TABLES = ("meta", "runs", "steps", "prompts", "llm_calls")
_STEP_COLUMNS = "run_id, t, action, reward, expected_reward, optimal_expected_reward, optimal_action, record"


class StoreCorrupt(ValueError):
    """The store's content is not what was written (a step row whose digest does not match, missing steps)."""


_NAN = float("nan")
_pack3 = struct.Struct("<3d").pack


def _real(x: float | None) -> float:
    """A stored REAL as hashed: SQLite keeps NaN as NULL, and the sign of zero is not meaningful."""
    if x is None:
        return _NAN
    x = float(x)
    return _NAN if x != x else x + 0.0


def step_digest(run_id: str, t: int, action: str, reward: float, expected: float | None, optimal: float | None,
                optimal_action: str | None, record: str) -> str:
    """Digest of a step row as stored: 16 hex digits of the sha256 of its text columns (the JSON as stored) and its
    three REAL columns as IEEE doubles."""
    text = f"{run_id}\x1f{int(t)}\x1f{action}\x1f{'' if optimal_action is None else optimal_action}\x1f{record}"
    if not all(isinstance(v, str) for v in (run_id, action, record)):
        raise TypeError("text column holds another type")
    return sha256(text.encode() + _pack3(_real(reward), _real(expected), _real(optimal))).hexdigest()[:16]


def run_digest(run_id: str, agent: str, kind: str, seed: int, env_id: str, horizon: int, config: str) -> str:
    """Digest of a run's identity as stored (``config`` as its stored JSON text): 16 hex digits of sha256."""
    text = "\x1f".join((run_id, agent, kind, str(int(seed)), env_id, str(int(horizon)), config))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digest_matches(row: tuple) -> bool:
    try:
        return isinstance(row[1], int) and step_digest(*row[:8]) == row[8]
    except (TypeError, ValueError, AttributeError):  # a damaged row whose values have the wrong types
        return False


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


_EMPTY_RECORD: dict[str, Any] = {}  # shared by every step whose record is empty (readers never modify records)


def _record(text: str) -> dict[str, Any]:
    return _EMPTY_RECORD if text == "{}" else json.loads(text)


@dataclass(slots=True)
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


@dataclass
class Verification:
    """What :meth:`RunStore.check` found: runs, sound step rows, rows without a digest (older stores), problems."""

    runs: int
    steps: int
    unverified: int
    problems: list[str]


class RunStore:
    """Open (creating if needed) the store in ``out``. Use as a context manager or call :meth:`close`."""

    def __init__(self, out: str | Path, create: bool = True, commit_interval_s: float = 0.2) -> None:
        self.out = Path(out)
        self.commit_interval_s = commit_interval_s
        self._last_commit = time.monotonic()
        self._progress: dict[str, list] = {}  # run id -> [steps done, wall seconds] of the open group
        self.path = self.out / STORE_FILE
        self.readonly = not create
        if not create:
            if not self.path.exists():
                raise FileNotFoundError(f"no run store in {self.out} (expected {self.path})")
            self.db = self._open_readonly()
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            try:
                self._check_is_store(allow_empty=True)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                for table in ("steps", "runs"):  # a store written before digests existed
                    if "digest" not in self._columns(table):
                        self.db.execute(f"ALTER TABLE {table} ADD COLUMN digest TEXT")
            except BaseException:
                self.db.close()
                raise
        self._has_digest = "digest" in self._columns("steps")
        self._runs_digest = "digest" in self._columns("runs")

    def _open_readonly(self) -> sqlite3.Connection:
        """Read-only connection. A WAL store needs its ``-shm`` file, which SQLite cannot create in a read-only
        directory: then the store is opened as immutable, which is sound only when no ``-wal`` file holds
        changes not yet copied into the database (a store closed cleanly has none)."""
        uri = self.path.resolve().as_uri()
        db = None
        try:
            db = self.db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
            self._check_is_store()
            return db
        except sqlite3.OperationalError:
            if db is not None:
                db.close()
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise ValueError(
                    f"cannot read the run store {self.path} read-only: its write-ahead log {wal.name} holds changes "
                    "and the directory is not writable; copy the directory somewhere writable") from None
        except BaseException:
            if db is not None:
                db.close()
            raise
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        self.db = db
        try:
            self._check_is_store()
        except BaseException:
            db.close()
            raise
        return db

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}

    def _check_is_store(self, allow_empty: bool = False) -> None:
        """Raise ValueError unless the file is a run store (or, when ``allow_empty``, an empty database)."""
        try:
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path} is not a run store, or is damaged ({e})") from None
        if allow_empty and not tables:
            return
        missing = [t for t in _TABLES if t not in tables]
        if missing:
            what = "an empty file" if self.path.stat().st_size == 0 else (
                "an empty database" if not tables else f"a database without the tables {', '.join(missing)}")
            raise ValueError(f"{self.path} is not a run store ({what})")

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
        return self._run_row(dict(zip([c[0] for c in cur.description], row)))

    def runs(self) -> list[dict[str, Any]]:
        self._write_progress()
        cur = self.db.execute("SELECT * FROM runs ORDER BY agent, seed")
        cols = [c[0] for c in cur.description]
        return [self._run_row(dict(zip(cols, r))) for r in cur.fetchall()]

    def _run_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A run row with its config decoded, checked against its digest (rows of older stores have none)."""
        digest = row.pop("digest", None)
        keys = ("run_id", "agent", "kind", "seed", "env_id", "horizon", "config")
        try:
            sound = digest is None or run_digest(*(row[k] for k in keys)) == digest
        except (TypeError, ValueError, AttributeError):
            sound = False
        if not sound or row["status"] not in ("running", "done"):
            raise StoreCorrupt(f"store {self.out} is corrupt at run {row['run_id']} "
                               f"({'digest mismatch' if not sound else 'unknown status'})")
        row["config"] = json.loads(row["config"])
        return row

    def create_run(self, run_id: str, agent: str, kind: str, seed: int, env_id: str, horizon: int,
                   config: dict[str, Any]) -> None:
        text = dumps(config)
        self.db.execute(
            "INSERT INTO runs (run_id, agent, kind, seed, env_id, horizon, status, steps_done, config, started_at,"
            " digest) VALUES (?, ?, ?, ?, ?, ?, 'running', 0, ?, ?, ?)",
            (run_id, agent, kind, seed, env_id, horizon, text, time.time(),
             run_digest(run_id, agent, kind, seed, env_id, horizon, text)),
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
            row = (step.run_id, step.t, dumps(step.action), float(step.reward), step.expected_reward,
                   step.optimal_expected_reward, dumps(step.optimal_action), dumps(step.record))
            steps.append((*row, step_digest(*row)))
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
        rows = []
        for run_id, t, arm, reward, expected, optimal, best in steps:
            a, b = str(arm), str(best)
            try:  # step_digest inlined for plain numbers (this path is hot): the same digest for the same row
                if reward != reward or expected != expected or optimal != optimal:
                    raise TypeError  # NaN: the general path
                nums = _pack3(reward + 0.0, expected + 0.0, optimal + 0.0)
                digest = sha256(f"{run_id}\x1f{int(t)}\x1f{a}\x1f{b}\x1f{{}}".encode() + nums).hexdigest()[:16]
            except TypeError:  # None
                digest = step_digest(run_id, t, a, reward, expected, optimal, b, "{}")
            rows.append((run_id, t, a, reward, expected, optimal, b, "{}", digest))
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
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
            self.db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", steps)
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
        """The committed steps of a run, verified (see the module docstring): raises :class:`StoreCorrupt`."""
        return list(self.iter_steps(run_id))

    def iter_steps(self, run_id: str) -> Iterator[StepRow]:
        """The committed steps of a run, verified as they are read, one at a time (readers of long runs keep only
        what they need): raises :class:`StoreCorrupt` at the first problem, which may come after the last row
        (a count that does not match)."""
        problems: list[str] = []
        yield from self._scan_steps(run_id, problems, stop_at_first=True)
        if problems:
            raise StoreCorrupt(problems[0])

    def _scan_steps(self, run_id: str, problems: list[str], stop_at_first: bool,
                    unverified: list[int] | None = None) -> Iterator[StepRow]:
        """The decoded steps of a run, each row's digest checked as it is decoded; problems are appended to
        ``problems`` (the first one ends the scan when ``stop_at_first``), rows without a digest counted in
        ``unverified[0]``."""
        self._write_progress()
        digest = "digest" if self._has_digest else "NULL"
        cur = self.db.execute(f"SELECT {_STEP_COLUMNS}, {digest} FROM steps WHERE run_id = ? ORDER BY t", (run_id,))
        where = f"store {self.out} is corrupt at run {run_id}"
        expected = n = 0
        for r in cur:
            t = r[1]
            if r[8] is None:
                if unverified is not None:
                    unverified[0] += 1
            elif not _digest_matches(r):
                problems.append(f"{where} step {t} (digest mismatch)")
                if stop_at_first:
                    return
                expected = t + 1 if isinstance(t, int) else expected + 1
                continue
            if t != expected:
                problems.append(f"{where} step {t} (steps {expected}..{t - 1} are missing)" if isinstance(t, int)
                                and t > expected else f"{where} step {t} (expected step {expected})")
                if stop_at_first:
                    return
            expected = t + 1 if isinstance(t, int) else expected + 1
            try:
                row = StepRow(r[0], t, json.loads(r[2]), r[3], r[4], r[5], json.loads(r[6]), _record(r[7]))
            except (TypeError, ValueError) as e:
                problems.append(f"{where} step {t} (undecodable row: {e})")
                if stop_at_first:
                    return
                continue
            n += 1
            yield row
        run = self.db.execute(f"SELECT status, steps_done, {'digest' if self._runs_digest else 'NULL'} FROM runs"
                              " WHERE run_id = ?", (run_id,)).fetchone()
        # steps_done is written in the transaction of its steps: they agree in a finished run, and in any run of a
        # store with digests (older stores could leave a running run's count behind)
        if run is not None and (run[0] == "done" or run[2] is not None) and not problems and run[1] != n:
            problems.append(f"{where} ({run[1]} steps done; the store holds {n})")
        elif run is None and (n or problems):
            problems.append(f"store {self.out} is corrupt: steps of run {run_id}, which it does not list")

    def check(self) -> Verification:
        """Check the whole store: SQLite's integrity check, then every run's steps (digests, step numbers, counts)."""
        problems = [f"store {self.out}: SQLite integrity check: {r[0]}"
                    for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        runs = [r[0] for r in self.db.execute("SELECT run_id FROM runs")]
        for run_id in runs:
            try:
                self.get_run(run_id)
            except (StoreCorrupt, ValueError, TypeError) as e:
                problems.append(str(e) if isinstance(e, StoreCorrupt) else f"store {self.out}: run {run_id}: {e}")
        ids = set(runs) | {r[0] for r in self.db.execute("SELECT DISTINCT run_id FROM steps")}
        steps = unverified = 0
        for run_id in sorted(ids):
            missing = [0]
            steps += sum(1 for _ in self._scan_steps(run_id, problems, stop_at_first=False, unverified=missing))
            unverified += missing[0]
        return Verification(len(runs), steps, unverified, problems)

    def verify(self) -> list[str]:
        """Problems found by :meth:`check`; empty when the store is sound."""
        return self.check().problems

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
