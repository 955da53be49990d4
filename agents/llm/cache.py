"""The response cache: SQLite (WAL), shared by all runs and safe for several processes.

Key = sha256 of the sorted JSON of (backend name, model id, every output-determining request field except
``n``, sample index). Sample ``i`` of a request is its own entry, so samples at temperature > 0 stay distinct
and an identical request (same seed, same sample index) hits.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from expobench.agents.llm.types import Completion, LLMRequest


def cache_key(backend: str, model_id: str, request: LLMRequest, sample_index: int) -> str:
    payload = request.to_json()
    payload.pop("n")
    blob = json.dumps({"backend": backend, "model": model_id, "request": payload, "sample": sample_index},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=60000")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)"
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self.db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        data = json.loads(row[0])
        return Completion(**{**data, "cached": True})

    def put(self, key: str, completion: Completion) -> None:
        data = {k: getattr(completion, k) for k in ("text", "prompt_tokens", "completion_tokens", "finish_reason",
                                                     "latency_s", "prompt_tokens_evaluated", "meta")}
        with self._lock:
            self.db.execute("INSERT OR IGNORE INTO responses VALUES (?, ?)", (key, json.dumps(data)))

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.db.close()
