"""Layers point down: import-linter's contracts (pyproject.toml, ``[tool.importlinter]``) hold with no ignored
imports. import-linter reads the package from disk, so the test lays the installed layout (``expobench/envs``,
``expobench/agents`` ... as the wheel has it) out in a temporary folder first."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib


ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold_with_no_exceptions(tmp_path):
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in setuptools["package-dir"].items():
        target = tmp_path / package.replace(".", "/")
        shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns("__pycache__", "data", "configs"),
                        dirs_exist_ok=True)
    linter = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert len(linter["contracts"]) >= 4
    assert not any("ignore_imports" in c for c in linter["contracts"])
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    result = subprocess.run([lint, "--no-cache", str(ROOT / "pyproject.toml")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
