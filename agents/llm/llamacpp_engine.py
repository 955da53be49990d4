"""The llama.cpp engine on this machine: what the CPU offers, what the installed build was compiled for, and a
one-token smoke test that runs the engine in a child process, so that a native crash (SIGSEGV, SIGILL) becomes a
clear error instead of a dead interpreter.

Why a child process: a crash inside llama.cpp's C++ code kills the Python process that loaded it; no ``try`` can
catch it. :func:`preflight` therefore loads the model once in a child first (at most once per engine build, model
file, CPU and settings: the passing result is remembered in the cache directory) and raises
:class:`EngineCrashed`, naming the signal, the CPU's features, the build and what to try, when the child dies.

Known crash: llama-cpp-python 0.3.36 built natively (``GGML_NATIVE``, llama.cpp's default) on a CPU with AMX
segfaults in ``decode`` on the first completion, through llama.cpp's extra CPU buffer types (weight repacking,
AMX). The Makefile installs a portable build (x86-64-v3: AVX2, FMA, F16C, BMI2; no AVX-512/AMX code), and
:func:`extra_buffer_types_default` turns the extra buffer types off wherever a build with AVX-512 or AMX code
meets a CPU with AMX.

Run as a module (``python -m expobench.agents.llm.llamacpp_engine --smoke MODEL.gguf``) it is the child's entry point.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from expobench.agents.llm.types import LLMError
from expobench.settings import llm_threads

# CPU flags (as /proc/cpuinfo spells them) that decide which llama.cpp code paths can run.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
             "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
# llama.cpp build features (``llama_print_system_info``) → the CPU flag each one needs.
BUILD_NEEDS = {"SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "F16C": "f16c", "FMA": "fma",
               "BMI2": "bmi2", "AVX_VNNI": "avx_vnni", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
               "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8"}
LLAMA_CPP_VERSION = "0.3.36"
PORTABLE_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
                       "-DGGML_BMI2=ON -DGGML_AVX512=OFF -DLLAVA_BUILD=OFF")
SMOKE_TIMEOUT_S = 300.0


class EngineCrashed(LLMError):
    """The embedded engine died (a signal or a failed start) in the smoke test; the message says what to try.
    Nothing of the experiment ran: retrying the same command without a change gives the same crash."""


@cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """(CPU model name, all its feature flags); Linux reads ``/proc/cpuinfo``, elsewhere the flags are unknown."""
    name, flags = platform.processor() or platform.machine(), frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return name, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name in ("", platform.machine(), platform.processor()):
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return name, flags


def cpu_features() -> list[str]:
    """The flags of :data:`CPU_FLAGS` that this CPU has, in that order."""
    flags = cpu_info()[1]
    return [f for f in CPU_FLAGS if f in flags]


def build_features() -> dict[str, str]:
    """The installed llama.cpp build's features (``llama_print_system_info``: ``{"AVX2": "1", ...}``); raises
    ImportError when llama-cpp-python is not installed."""
    import llama_cpp

    text = llama_cpp.llama_print_system_info().decode(errors="replace")
    features: dict[str, str] = {}
    for item in text.replace("\n", "|").split("|"):
        key, sep, value = item.rpartition("=")
        if sep:
            features[key.split(":")[-1].strip().upper()] = value.strip()
    return features


def compiled_for(features: dict[str, str]) -> list[str]:
    """The instruction-set features the build uses (those of :data:`BUILD_NEEDS` reported as on)."""
    return [k for k in BUILD_NEEDS if features.get(k) == "1"]


def build_variant(features: dict[str, str]) -> str:
    """A short name for what the build targets: ``x86-64-v3 (AVX2)``, ``AVX-512``, ``AVX-512 + AMX``, ..."""
    on = set(compiled_for(features))
    if "AMX_INT8" in on:
        return "AVX-512 + AMX (a native build for an AMX CPU)"
    if "AVX512" in on:
        return "AVX-512 (a native build for an AVX-512 CPU)"
    if {"AVX2", "FMA", "F16C"} <= on:
        return "x86-64-v3 (AVX2, FMA, F16C)"
    if "AVX" in on:
        return "AVX"
    return "baseline (no AVX)" if platform.machine() in ("x86_64", "AMD64") else platform.machine()


def missing_cpu_features(features: dict[str, str]) -> list[str]:
    """Build features whose instructions this CPU lacks (each can crash with SIGILL); empty when the flags are
    unknown (non-Linux)."""
    flags = cpu_info()[1]
    if not flags:
        return []
    return [k for k in compiled_for(features) if BUILD_NEEDS[k] not in flags]


def extra_buffer_types_default(features: dict[str, str] | None = None) -> bool:
    """Whether llama.cpp's extra CPU buffer types (weight repacking, AMX) should be on: off where a build with
    AVX-512 or AMX code meets a CPU with AMX (the measured SIGSEGV), on everywhere else."""
    if "amx_tile" not in cpu_info()[1]:
        return True
    try:
        features = build_features() if features is None else features
    except ImportError:
        return True
    return not ({"AVX512", "AMX_INT8"} & set(compiled_for(features)))


def llama_cpp_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("llama-cpp-python")
    except Exception:  # noqa: BLE001 - not installed, or broken metadata
        return None


def _library_fingerprint() -> str:
    """Size and mtime of the installed native libraries: changes when llama-cpp-python is rebuilt."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return "none"
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(lib.glob("*")) if p.is_file()]
    return ",".join(parts)


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test saw. ``signal`` is the signal name when the child was killed by one."""

    ok: bool
    seconds: float
    returncode: int | None
    signal: str | None = None
    text: str = ""
    detail: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"one token generated in {self.seconds:.1f} s (answer {self.text!r})"
        if self.signal:
            return f"the engine crashed with {self.signal} (exit {self.returncode})"
        return f"the engine failed (exit {self.returncode}): {self.detail}"


def smoke_command(model_path: str, use_extra_bufts: bool) -> list[str]:
    """The child's command line (a function so tests can make the child crash on purpose)."""
    cmd = [sys.executable, "-m", "expobench.agents.llm.llamacpp_engine", "--smoke", model_path]
    return cmd if use_extra_bufts else [*cmd, "--no-extra-buffer-types"]


def smoke_test(model_path: str, use_extra_bufts: bool | None = None,
               timeout_s: float = SMOKE_TIMEOUT_S) -> SmokeResult:
    """Load ``model_path`` in a child process and generate one token; never raises for what the child does."""
    if use_extra_bufts is None:
        use_extra_bufts = extra_buffer_types_default()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(smoke_command(model_path, use_extra_bufts), capture_output=True, text=True,
                              timeout=timeout_s, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    except subprocess.TimeoutExpired:
        return SmokeResult(False, time.perf_counter() - t0, None, None, "",
                           f"no answer within {timeout_s:.0f} s")
    seconds = time.perf_counter() - t0
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return SmokeResult(False, seconds, proc.returncode, name, "", _tail(proc.stderr))
    if proc.returncode != 0:
        return SmokeResult(False, seconds, proc.returncode, None, "", _tail(proc.stderr))
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return SmokeResult(False, seconds, proc.returncode, None, "", f"unreadable output: {_tail(proc.stdout)}")
    return SmokeResult(True, seconds, 0, None, str(out.get("text", "")), "")


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def crash_report(result: SmokeResult, model_path: str) -> str:
    """What crashed, on which CPU and build, and what to try: the message of :class:`EngineCrashed`."""
    name, _ = cpu_info()
    try:
        features = build_features()
        build = f"llama-cpp-python {llama_cpp_version()}, {build_variant(features)}"
        missing = missing_cpu_features(features)
    except ImportError:
        build, missing = "llama-cpp-python not importable", []
    lines = [
        f"the embedded llama.cpp engine did not survive a one-token smoke test of {model_path}: "
        f"{result.describe()}.",
        f"  CPU: {name}; features: {' '.join(cpu_features()) or 'unknown'}",
        f"  build: {build}" + (f"; compiled for {', '.join(missing)}, which this CPU lacks" if missing else ""),
    ]
    if result.detail:
        lines.append(f"  child's last output: {result.detail}")
    lines += [
        "  what to try:",
        "    1. the portable build: `make llama-cpp` in the expobench checkout, or",
        f"       CMAKE_ARGS=\"{PORTABLE_CMAKE_ARGS}\" pip install --force-reinstall --no-cache-dir "
        f"llama-cpp-python=={LLAMA_CPP_VERSION}",
        "    2. turn llama.cpp's extra buffer types off: `llm: {extra: {use_extra_bufts: false}}`",
        "    3. `expobench doctor` checks the whole installation",
        "  Nothing of the experiment ran; re-running without a change crashes the same way.",
    ]
    return "\n".join(lines)


_PASSED: set[str] = set()


def _stamp_path(key: str) -> Path:
    from expobench.settings import cache_root

    return cache_root() / "engine-checks" / f"{key}.json"


def preflight(model_path: str, model_sha256: str, use_extra_bufts: bool) -> None:
    """Raise :class:`EngineCrashed` unless the engine survives :func:`smoke_test` on this model and settings.

    A pass is remembered (in this process and in ``$EXPOBENCH_CACHE/engine-checks``) per llama.cpp build, model
    file, CPU and setting, so the child runs once per machine and build. ``EXPOBENCH_ENGINE_CHECK=0`` skips it."""
    if os.environ.get("EXPOBENCH_ENGINE_CHECK", "1") == "0":
        return
    ident = {"llama_cpp": llama_cpp_version(), "libs": _library_fingerprint(), "model": model_sha256,
             "cpu": sorted(cpu_info()[1]), "use_extra_bufts": use_extra_bufts, "python": sys.executable}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]
    if key in _PASSED:
        return
    stamp = _stamp_path(key)
    if stamp.exists():
        _PASSED.add(key)
        return
    result = smoke_test(model_path, use_extra_bufts)
    if not result.ok:
        raise EngineCrashed(crash_report(result, model_path))
    _PASSED.add(key)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({**ident, "result": asdict(result)}))
    except OSError:  # a read-only cache only costs a repeated check
        pass


def load_llama(model_path: str, use_extra_bufts: bool, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path, **kwargs)`` with llama.cpp's ``use_extra_bufts`` model parameter set, which
    llama-cpp-python 0.3.x does not expose (its ``Llama`` silently ignores unknown keyword arguments): the
    default model parameters are patched for the duration of the call. Callers serialise loads."""
    import llama_cpp.llama_cpp as native
    from llama_cpp import Llama

    if use_extra_bufts:
        return Llama(model_path=model_path, **kwargs)
    default_params = native.llama_model_default_params

    def params_without_extra_bufts() -> Any:
        params = default_params()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = params_without_extra_bufts
    try:
        return Llama(model_path=model_path, **kwargs)
    finally:
        native.llama_model_default_params = default_params


def _smoke_main(model_path: str, use_extra_bufts: bool) -> int:
    """The child: load the model with a small context and generate one token."""
    t0 = time.perf_counter()
    llm = load_llama(model_path, use_extra_bufts, n_ctx=256, n_threads=min(2, llm_threads()),
                     verbose=False)
    resp = llm.create_chat_completion(messages=[{"role": "user", "content": "Say OK."}], max_tokens=1,
                                      temperature=0.0, seed=0)
    text = resp["choices"][0]["message"]["content"] or ""
    print(json.dumps({"text": text, "seconds": time.perf_counter() - t0,
                      "use_extra_bufts": bool(llm.model_params.use_extra_bufts)}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="llama.cpp smoke test (run in a child process)")
    parser.add_argument("--smoke", required=True, metavar="MODEL_GGUF")
    parser.add_argument("--no-extra-buffer-types", action="store_true")
    args = parser.parse_args()
    sys.exit(_smoke_main(args.smoke, not args.no_extra_buffer_types))
