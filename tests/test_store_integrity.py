"""The run store verifies itself: a damaged step or run row is reported, never summarised as a wrong number."""

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from expobench.experiments import store as store_mod
from expobench.experiments.cli import main
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import RunData, greedy_frac, summarize
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore, StoreCorrupt, step_digest


def make_store(out: Path, horizon: int = 30, on_step=None) -> Path:
    cfg = parse_config({"name": "integrity", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon,
                        "seeds": [0, 1], "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ts", "kind": "thompson"}],
                        "out": str(out)})
    run_experiment(cfg, progress=False, on_step=on_step).close()
    return out


@pytest.fixture(scope="module")
def sound(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("sound") / "out")


def copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def summary(out: Path, capsys) -> tuple[int, str, str]:
    code = main(["summary", str(out), "--json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sql(out: Path, statement: str, params=()) -> int:
    db = sqlite3.connect(out / "runs.sqlite")
    changed = db.execute(statement, params).rowcount
    db.commit()
    db.close()
    return changed


def test_sound_store_verifies_and_summarises(sound, capsys):
    assert main(["verify", str(sound)]) == 0
    assert capsys.readouterr().out.strip() == f"{sound}: 4 runs, 120 steps verified"
    code, out, _ = summary(sound, capsys)
    assert code == 0 and len(json.loads(out)) == 2
    with RunStore(sound, create=False) as store:
        assert store.verify() == []
        db = sqlite3.connect(sound / "runs.sqlite")
        assert db.execute("SELECT COUNT(*) FROM steps WHERE digest IS NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM runs WHERE digest IS NULL").fetchone()[0] == 0


def test_both_append_paths_write_the_digest_readers_check():
    # the batched path inlines the digest: it must agree with step_digest for the same stored row
    row = ("r", 3, "7", 0.25, 0.5, -0.0, "19", "{}")
    assert step_digest(*row) == step_digest("r", 3, "7", 0.25, 0.5, 0.0, "19", "{}")
    assert step_digest(*row) != step_digest("r", 3, "7", 0.26, 0.5, 0.0, "19", "{}")
    assert step_digest("r", 3, "7", 0.25, None, float("nan"), "19", "{}") == \
        step_digest("r", 3, "7", 0.25, float("nan"), None, "19", "{}")


@pytest.mark.parametrize("statement", [
    "UPDATE steps SET reward = reward + 1 WHERE run_id LIKE '%ucb__0' AND t = 7",
    "UPDATE steps SET action = CASE action WHEN '1' THEN '2' ELSE '1' END WHERE run_id LIKE '%ucb__0' AND t = 7",
    "UPDATE steps SET optimal_action = '4' WHERE run_id LIKE '%ucb__1' AND t = 0",
    "UPDATE steps SET expected_reward = 0.9 WHERE run_id LIKE '%ts__1' AND t = 12",
    "UPDATE steps SET optimal_expected_reward = 0.2 WHERE run_id LIKE '%ts__1' AND t = 12",
    "UPDATE steps SET t = 100 WHERE run_id LIKE '%ts__1' AND t = 29",
])
def test_sql_edits_of_step_rows_are_detected(sound, tmp_path, capsys, statement):
    out = copy(sound, tmp_path / "out")
    assert sql(out, statement) == 1
    code, stdout, err = summary(out, capsys)
    assert code == 2 and stdout == ""
    assert f"store {out} is corrupt at run" in err and "(digest mismatch)" in err
    assert main(["verify", str(out)]) == 2
    assert "digest mismatch" in capsys.readouterr().err


def test_deleted_step_and_wrong_count_are_detected(sound, tmp_path, capsys):
    gap = copy(sound, tmp_path / "gap")
    sql(gap, "DELETE FROM steps WHERE run_id LIKE '%ucb__1' AND t = 5")
    code, _, err = summary(gap, capsys)
    assert code == 2 and "step 6 (steps 5..5 are missing)" in err
    tail = copy(sound, tmp_path / "tail")
    sql(tail, "DELETE FROM steps WHERE run_id LIKE '%ucb__1' AND t = 29")
    code, _, err = summary(tail, capsys)
    assert code == 2 and "30 steps done; the store holds 29" in err


def test_run_row_edits_are_detected(sound, tmp_path, capsys):
    for i, statement in enumerate(["UPDATE runs SET agent = 'tcb' WHERE agent = 'ucb' AND seed = 0",
                                   "UPDATE runs SET seed = 5 WHERE agent = 'ts' AND seed = 1",
                                   "UPDATE runs SET status = 'dond' WHERE agent = 'ts' AND seed = 1",
                                   "UPDATE runs SET steps_done = 20 WHERE agent = 'ts' AND seed = 1"]):
        out = copy(sound, tmp_path / f"o{i}")
        assert sql(out, statement) == 1
        code, stdout, err = summary(out, capsys)
        assert code == 2 and stdout == "" and "is corrupt at run" in err, statement


def test_single_byte_flips_in_the_file_never_change_the_summary(sound, tmp_path, capsys):
    """Flip one bit at offsets spread over the whole file (every page: meta, runs, steps, indexes): the summary is
    either the sound one or an error, never different numbers."""
    base = summary(sound, capsys)
    assert base[0] == 0
    data = (sound / "runs.sqlite").read_bytes()
    assert not (sound / "runs.sqlite-wal").exists() or (sound / "runs.sqlite-wal").stat().st_size == 0
    outcomes = {"same": 0, "detected": 0}
    for off in range(100, len(data), 211):
        out = tmp_path / f"f{off}"
        out.mkdir()
        damaged = bytearray(data)
        damaged[off] ^= 0x01
        (out / "runs.sqlite").write_bytes(bytes(damaged))
        code, stdout, err = summary(out, capsys)
        if (code, stdout) == base[:2]:
            outcomes["same"] += 1
        else:
            assert code == 2 and stdout == "", f"offset {off}: a damaged store summarised differently"
            assert "corrupt" in err or "cannot read" in err or "not a run store" in err, err
            outcomes["detected"] += 1
        shutil.rmtree(out)
    assert outcomes["detected"] > 10  # the flips did land in live data


def test_zero_byte_and_foreign_files_are_not_run_stores(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "runs.sqlite").write_bytes(b"")
    code, stdout, err = summary(empty, capsys)
    assert code == 2 and stdout == "" and "is not a run store (an empty file)" in err
    assert (empty / "runs.sqlite").stat().st_size == 0  # a reader creates nothing
    text = tmp_path / "text"
    text.mkdir()
    (text / "runs.sqlite").write_text("hello, this is not a database at all" * 50)
    assert main(["verify", str(text)]) == 2
    assert "not a run store" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    sql(other, "CREATE TABLE t (x)")
    assert summary(other, capsys)[0] == 2
    with pytest.raises(ValueError, match="not a run store"):
        RunStore(text)  # a writer refuses it too, rather than adding tables to a foreign file


def test_store_in_read_only_directory_can_be_summarised_and_reported(sound, tmp_path, capsys):
    out = copy(sound, tmp_path / "ro")
    for p in (out / "runs.sqlite-shm", out / "runs.sqlite-wal"):
        p.unlink(missing_ok=True)
    before = (out / "runs.sqlite").read_bytes()
    base = summary(sound, capsys)
    os.chmod(out / "runs.sqlite", stat.S_IRUSR)
    os.chmod(out, stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert summary(out, capsys)[:2] == base[:2]
        assert main(["verify", str(out)]) == 0
        assert main(["report", str(out), "--dest", str(tmp_path / "rep")]) == 0
        assert (tmp_path / "rep.md").exists()
    finally:
        os.chmod(out, stat.S_IRWXU)
        os.chmod(out / "runs.sqlite", stat.S_IRUSR | stat.S_IWUSR)
    assert (out / "runs.sqlite").read_bytes() == before


def test_read_only_open_falls_back_to_immutable_when_shm_cannot_be_made(sound, tmp_path, monkeypatch, capsys):
    """Where SQLite cannot create the -shm file (a read-only directory; root ignores chmod, so simulated here), the
    store is read as immutable; with a non-empty -wal that would be unsound, and the reader says so."""
    real = sqlite3.connect
    opened = []

    def connect(target, *args, **kwargs):
        opened.append(str(target))
        if "mode=ro" in str(target):
            raise sqlite3.OperationalError("unable to open database file")
        return real(target, *args, **kwargs)

    out = copy(sound, tmp_path / "ro")
    monkeypatch.setattr(store_mod.sqlite3, "connect", connect)
    base_rows = None
    with RunStore(out, create=False) as store:
        base_rows = store.steps(store.runs()[0]["run_id"])
        assert store.verify() == []
    assert any("immutable=1" in o for o in opened) and len(base_rows) == 30
    (out / "runs.sqlite-wal").write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="write-ahead log"):
        RunStore(out, create=False)


def test_older_store_without_digests_is_migrated_and_read_unverified(sound, tmp_path, capsys):
    out = copy(sound, tmp_path / "old")
    sql(out, "UPDATE steps SET digest = NULL WHERE run_id LIKE '%ucb__0'")
    sql(out, "UPDATE runs SET digest = NULL")
    assert summary(out, capsys)[:2] == summary(sound, capsys)[:2]
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 4 runs, 90 steps verified (30 older steps have no digest: " \
                                              "not verified)"
    # a store from before the column existed: the writer adds it, readers accept the rows
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    db = sqlite3.connect(legacy / "runs.sqlite")
    schema = store_mod._SCHEMA.replace(", digest TEXT", "")
    assert "digest" not in schema
    db.executescript(schema)
    db.execute("INSERT INTO runs VALUES ('a', 'x', 'ucb', 0, 'e', 1, 'done', 1, '{}', 0, NULL, NULL)")
    db.execute("INSERT INTO steps VALUES ('a', 0, '1', 1.0, 1.0, 1.0, '1', '{}')")
    db.commit()
    db.close()
    with RunStore(legacy, create=False) as reader:
        assert [s.reward for s in reader.steps("a")] == [1.0]
    with RunStore(legacy) as writer:
        assert "digest" in writer._columns("steps") and "digest" in writer._columns("runs")


def test_steps_raises_store_corrupt(sound, tmp_path):
    out = copy(sound, tmp_path / "c")
    sql(out, "UPDATE steps SET reward = 0.123 WHERE run_id LIKE '%ts__0' AND t = 3")
    with RunStore(out, create=False) as store:
        run_id = next(r["run_id"] for r in store.runs() if r["agent"] == "ts" and r["seed"] == 0)
        with pytest.raises(StoreCorrupt, match=rf"store {out} is corrupt at run {run_id} step 3 \(digest mismatch\)"):
            store.steps(run_id)
        assert store.verify() == [f"store {out} is corrupt at run {run_id} step 3 (digest mismatch)"]


def test_interrupted_run_resumes_and_verifies(tmp_path, capsys):
    class Stop(Exception):
        pass

    def stop(run_id, t):
        if t == 17:
            raise Stop

    out = tmp_path / "out"
    with pytest.raises(Stop):
        make_store(out, on_step=stop)
    with RunStore(out, create=False) as store:
        assert store.verify() == []
        assert any(r["status"] == "running" for r in store.runs())
    make_store(out)
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 4 runs, 120 steps verified"
    clean = make_store(tmp_path / "clean")
    a, b = sqlite3.connect(out / "runs.sqlite"), sqlite3.connect(clean / "runs.sqlite")
    q = "SELECT run_id, t, action, reward, digest FROM steps ORDER BY run_id, t"
    assert a.execute(q).fetchall() == b.execute(q).fetchall()


def _can_mount_read_only() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and mount namespaces (unshare -m)")
def test_store_on_read_only_media_can_be_summarised(sound, tmp_path, capsys):
    """A read-only file system (a bind mount with ``ro``), not permissions: root ignores file modes, so the chmod
    test above proves nothing when the suite runs as root."""
    out = copy(sound, tmp_path / "src")
    for p in (out / "runs.sqlite-shm", out / "runs.sqlite-wal"):
        p.unlink(missing_ok=True)
    base = summary(sound, capsys)
    mnt = tmp_path / "ro"
    mnt.mkdir()
    script = (f"mount --bind -o ro {out} {mnt} && touch {mnt}/probe 2>/dev/null && exit 9; "
              f"{sys.executable} -m expobench.experiments summary {mnt} --json && "
              f"{sys.executable} -m expobench.experiments verify {mnt}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout[:done.stdout.rindex("]") + 1]) == json.loads(base[1])
    assert not (out / "runs.sqlite-shm").exists() and not (out / "probe").exists()


def test_summary_memory_per_step_is_small(tmp_path):
    """Reading a long run keeps its columns, not a decoded row object per step: the summary's peak Python
    allocation per step stays near the columns' size (71 bytes measured), far from the 264 bytes per step that
    a list of decoded rows cost."""
    out = make_store(tmp_path / "long", horizon=20_000)
    with RunStore(out, create=False) as store:
        store.steps(store.runs()[0]["run_id"])  # warm imports and caches outside the measurement
        tracemalloc.start()
        summarize(store)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    steps = 4 * 20_000
    assert peak / steps < 150, f"{peak / steps:.0f} bytes per step"


def test_greedy_frac_by_blocks_equals_the_round_by_round_definition():
    rng = np.random.default_rng(0)

    def by_rounds(run, n_arms):
        counts, sums = np.zeros(n_arms), np.zeros(n_arms)
        hits = rounds = 0
        for a, r in zip(run.actions, run.rewards):
            if counts.any():
                means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
                hits += bool(means[a] == means.max())
                rounds += 1
            counts[a] += 1
            sums[a] += r
        return hits / rounds if rounds else float("nan")

    for trial in range(300):
        k, t = int(rng.integers(1, 7)), int(rng.integers(0, 60))
        rewards = rng.choice([0.0, 0.5, 1.0], t) if trial % 2 else rng.normal(size=t)
        run = RunData("r", "a", 0, [int(a) for a in rng.integers(0, k, t)], rewards, rewards, rewards,
                      [0] * t, [{}] * t)
        want, got = by_rounds(run, k), greedy_frac(run, k, block=int(rng.integers(1, 9)))
        assert want == got or (np.isnan(want) and np.isnan(got)), (trial, want, got)
