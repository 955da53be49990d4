"""The embedded engine on this machine: CPU/build facts, the child-process smoke test, crash reporting (a native
crash is one clear failure, never a dead test run), the extra-buffer-types switch and ``expobench doctor``."""

import json
import os
import signal
import sys

import pytest

from expobench.agents.llm import llamacpp_engine as engine
from expobench.agents.llm.models import file_sha256, resolve_model
from expobench.experiments.cli import main

CRASH = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]


@pytest.fixture
def crashing_engine(monkeypatch, tmp_path):
    """The smoke test's child dies with SIGSEGV, as the native build does on an AMX CPU."""
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "smoke_command", lambda path, extra: CRASH)
    monkeypatch.setattr(engine, "_PASSED", set())


def _smollm2() -> str:
    return str(resolve_model("smollm2-135m-instruct")[0])


def test_build_variant_and_missing_features_from_reported_flags(monkeypatch):
    v3 = {"SSE3": "1", "AVX": "1", "AVX2": "1", "F16C": "1", "FMA": "1", "BMI2": "1", "REPACK": "1"}
    amx = {**v3, "AVX512": "1", "AVX512_VNNI": "1", "AMX_INT8": "1"}
    assert engine.build_variant(v3).startswith("x86-64-v3")
    assert engine.build_variant({**v3, "AVX512": "1"}).startswith("AVX-512 (")
    assert engine.build_variant(amx).startswith("AVX-512 + AMX")
    avx2_cpu = frozenset({"pni", "avx", "avx2", "f16c", "fma", "bmi2"})
    monkeypatch.setattr(engine, "cpu_info", lambda: ("test cpu", avx2_cpu))
    assert engine.missing_cpu_features(v3) == []
    assert engine.missing_cpu_features(amx) == ["AVX512", "AVX512_VNNI", "AMX_INT8"]
    assert engine.extra_buffer_types_default(amx) is True  # no AMX on this CPU: nothing to avoid
    monkeypatch.setattr(engine, "cpu_info", lambda: ("amx cpu", avx2_cpu | {"avx512f", "amx_tile", "amx_int8"}))
    assert engine.extra_buffer_types_default(amx) is False  # the measured SIGSEGV: off
    assert engine.extra_buffer_types_default(v3) is True  # the portable build has no AMX code


def test_installed_build_reports_its_features_and_runs_on_this_cpu():
    features = engine.build_features()
    assert "AVX2" in features or not engine.cpu_features()  # x86 builds report their ISA features
    assert engine.missing_cpu_features(features) == []  # a build that needs instructions we lack would SIGILL


def test_crash_in_the_engine_is_one_clear_error_not_a_dead_interpreter(crashing_engine):
    from expobench.agents.llm.llamacpp import LlamaCppBackend

    with pytest.raises(engine.EngineCrashed) as err:
        LlamaCppBackend("smollm2-135m-instruct", n_ctx=256)
    msg = str(err.value)
    assert "crashed with SIGSEGV" in msg
    assert "CPU:" in msg and "features:" in msg and "build: llama-cpp-python" in msg
    assert "make llama-cpp" in msg and "use_extra_bufts: false" in msg and "expobench doctor" in msg
    assert "resume" not in msg  # re-running without a change would crash again


def test_cli_run_reports_the_crash_and_exits_1(crashing_engine, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: crash\nenv: {id: expobench/MAB-hard-v0}\nhorizon: 2\nseeds: [0]\n"
        f"out: {tmp_path / 'out'}\nllm: {{backend: llamacpp, model: smollm2-135m-instruct, n_ctx: 1024}}\n"
        "agents:\n  - {name: llm, kind: llm_bandit, params: {design: BSSN0}}\n"
    )
    assert main(["run", str(cfg), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "crashed with SIGSEGV" in err and "what to try" in err
    assert "run the same command again to resume" not in err


def test_native_crash_inside_a_test_fails_that_test_and_the_rest_runs(pytester):
    """What `make test` relies on for crashes the preflight cannot foresee: pytest-xdist runs tests in worker
    processes, so a worker killed by SIGSEGV is one failed test (xdist names the crash), and the suite goes on."""
    pytester.makepyfile(test_inner="""
        import os, signal

        def test_engine_crashes():
            os.kill(os.getpid(), signal.SIGSEGV)

        def test_other_work():
            assert 1 + 1 == 2
    """)
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*test_engine_crashes*"])


@pytest.mark.llm
def test_smoke_test_of_the_real_engine_passes_and_is_remembered(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "_PASSED", set())
    result = engine.smoke_test(_smollm2())
    assert result.ok and result.returncode == 0 and result.signal is None
    runs = []
    real = engine.smoke_test
    monkeypatch.setattr(engine, "smoke_test", lambda *a, **k: runs.append(a) or real(*a, **k))
    sha = file_sha256(resolve_model("smollm2-135m-instruct")[0])
    engine.preflight(_smollm2(), sha, True)
    engine.preflight(_smollm2(), sha, True)  # remembered in this process
    engine._PASSED.clear()
    engine.preflight(_smollm2(), sha, True)  # remembered in the cache directory
    assert len(runs) == 1
    engine.preflight(_smollm2(), sha, False)  # another setting is another check
    assert len(runs) == 2


@pytest.mark.llm
def test_extra_buffer_types_switch_reaches_llama_cpp():
    on = engine.load_llama(_smollm2(), True, n_ctx=256, verbose=False)
    off = engine.load_llama(_smollm2(), False, n_ctx=256, verbose=False)
    assert on.model_params.use_extra_bufts is True and off.model_params.use_extra_bufts is False
    import llama_cpp.llama_cpp as native

    assert native.llama_model_default_params().use_extra_bufts is True  # the patch is undone
    msgs = [{"role": "user", "content": "Name a colour."}]
    answers = [m.create_chat_completion(msgs, max_tokens=4, temperature=0.0, seed=0)["choices"][0]["message"]
               ["content"] for m in (on, off)]
    assert answers[0] == answers[1]  # same arithmetic result, other weight layout


def test_checksums_are_kept_in_the_cache_not_beside_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))
    models = tmp_path / "models"
    models.mkdir()
    gguf = models / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    models.chmod(0o555)  # a read-only model directory
    try:
        first = file_sha256(gguf)
        assert os.listdir(models) == ["m.gguf"]
        assert list((tmp_path / "cache" / "checksums").glob("*.json"))
        assert file_sha256(gguf) == first
    finally:
        models.chmod(0o755)


def test_doctor_reports_cpu_variant_and_smoke_test(capsys):
    code = main(["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert code == 0, [c for c in checks.values() if c["status"] == "FAIL"]
    assert checks["llama.cpp build"]["status"] == "OK" and "variant" in checks["llama.cpp build"]["detail"]
    assert checks["llama.cpp smoke test"]["status"] == "OK"
    assert "one token generated" in checks["llama.cpp smoke test"]["detail"]
    assert checks["model smollm2-135m-instruct"]["status"] == "OK"
    assert {"python", "cpu", "disk", "gpu / vllm", "chromium", "torch"} <= set(checks)


def test_doctor_names_a_crashing_engine_and_the_fix(crashing_engine, capsys):
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "llama.cpp smoke test" in x)
    assert line.startswith("FAIL") and "SIGSEGV" in line
    assert "fix: make llama-cpp" in out
    assert signal.Signals.SIGSEGV.name in out


def test_models_lists_builtin_files_with_their_checksums(capsys):
    from expobench.agents.llm.models import BUILTIN

    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(BUILTIN)
    smol = rows["smollm2-135m-instruct"]
    assert smol["installed"] and smol["present"] and smol["path"] == _smollm2()
    assert file_sha256(__import__("pathlib").Path(smol["path"])) == smol["sha256"] == BUILTIN[smol["name"]].sha256
    assert main(["models"]) == 0
    assert "sha256 " + smol["sha256"] in capsys.readouterr().out
