"""One import name: the wheel installs only ``expobench``; Gymnasium ids work the 1.x way in a fresh interpreter;
the OpenAI Agents SDK (top-level ``agents``) installs beside it."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"envs": "expobench/envs", "agents": "expobench/agents", "metaopt": "expobench/metaopt",
           "experiments": "expobench/experiments", "expobench": "expobench"}


def _fresh_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter outside the checkout (so only the installed distribution is seen)."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "HF_HUB_OFFLINE": "1"})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from the tracked files (copied, so the checkout gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((ROOT / f).read_bytes())
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                            str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (whl,) = dist.glob("expobench-*.whl")
    return whl


def test_wheel_installs_exactly_one_top_level_name_with_every_module_and_data_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"expobench"}
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *FOLDERS], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    shipped = [f for f in tracked if f.endswith((".py", ".yaml", ".json"))]
    assert len(shipped) > 60
    for f in shipped:
        folder, rest = f.split("/", 1)
        assert f"{FOLDERS[folder]}/{rest}" in names, f"{f} is not in the wheel"
    assert "expobench/envs/data/LICENSE-LLAMBO" in names  # the licence of LLAMBO's data travels with it
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "expobench = expobench.experiments.cli:main" in entry


def test_gymnasium_ids_the_1x_way_in_a_fresh_interpreter(tmp_path):
    prefixed = _fresh_python(
        "import gymnasium as gym\n"
        "env = gym.make('expobench:expobench/MAB-hard-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(env.spec.id, env.action_space)", tmp_path)
    assert prefixed.returncode == 0, prefixed.stderr
    assert prefixed.stdout.startswith("expobench/MAB-hard-v0 Discrete(5)")
    after_import = _fresh_python(
        "import gymnasium as gym, expobench\n"
        "print(gym.make('expobench/MAB-hard-v0').spec.id, len([i for i in gym.registry if i.startswith('expobench/')]))",
        tmp_path)
    assert after_import.returncode == 0, after_import.stderr
    assert after_import.stdout.split()[0] == "expobench/MAB-hard-v0" and int(after_import.stdout.split()[1]) > 40
    without = _fresh_python("import gymnasium as gym\ngym.make('expobench/MAB-hard-v0')", tmp_path)
    assert without.returncode != 0 and "expobench" in without.stderr  # no start-up hooks fake plugin loading


def test_openai_agents_sdk_imports_beside_expobench(tmp_path):
    both = _fresh_python(
        "import agents, expobench\n"
        "from agents import Agent, Runner\n"
        "from expobench.agents.registry import agent_kinds\n"
        "print(agents.__file__); print('ucb' in agent_kinds(), callable(expobench.run))", tmp_path)
    assert both.returncode == 0, both.stderr
    sdk_file, flags = both.stdout.split("\n")[:2]
    assert "site-packages/agents/" in sdk_file and flags == "True True"
