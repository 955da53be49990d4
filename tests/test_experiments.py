import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml

from expobench.experiments.cli import main
from expobench.experiments.config import parse_config
from expobench.experiments.errors import ConfigError
from expobench.experiments.metrics import RunData, cumulative_regret, greedy_frac, min_frac, suffix_failure
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore, StepRow


def base_config(out: Path, **over):
    cfg = {
        "name": "t",
        "env": {"id": "expobench/MAB-hard-v0", "kwargs": {}},
        "horizon": 30,
        "seeds": [0, 1, 2],
        "agents": [{"name": "ucb", "kind": "ucb", "params": {}}, {"name": "rnd", "kind": "random"},
                   {"name": "ts", "kind": "thompson"}],
        "out": str(out),
    }
    cfg.update(over)
    return cfg


def write(tmp_path, cfg, name="c.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p


def dump_store(out: Path):
    db = sqlite3.connect(out / "runs.sqlite")
    steps = db.execute("SELECT run_id, t, action, reward, expected_reward, optimal_expected_reward, "
                       "optimal_action, record FROM steps ORDER BY run_id, t").fetchall()
    runs = db.execute("SELECT run_id, status, steps_done, config FROM runs ORDER BY run_id").fetchall()
    return steps, runs


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c.update(bogus=1), ["bogus", "unknown field"]),
        (lambda c: c.update(horizon="ten"), ["horizon", "ten"]),
        (lambda c: c["env"].update(id="expobench/Nope-v0"), ["env.id", "Nope", "expobench/MAB-hard-v0"]),
        (lambda c: c["agents"][0].update(kind="ucbx"), ["agents[0].kind", "ucbx", "thompson"]),
        (lambda c: c["agents"][0].update(params={"c": -1}), ["agents[0]", "params.c", "greater than 0"]),
        (lambda c: c["agents"][1].update(name="ucb"), ["agents", "unique", "ucb"]),
    ],
)
def test_config_errors_name_field_value_and_allowed(tmp_path, capsys, mutate, expected):
    out = tmp_path / "out"
    cfg = base_config(out)
    mutate(cfg)
    code = main(["run", str(write(tmp_path, cfg))])
    err = capsys.readouterr().err
    assert code == 2
    for piece in expected:
        assert piece in err
    assert not out.exists()


def test_missing_and_unreadable_config(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    assert main(["run", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    d = tmp_path / "dir.yaml"
    d.mkdir()
    assert main(["run", str(d)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_parse_config_rejects_non_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        parse_config([1, 2])


class Boom(Exception):
    pass


def test_interrupted_run_resumes_to_identical_store(tmp_path):
    full = parse_config(base_config(tmp_path / "full"))
    run_experiment(full, progress=False).close()

    cfg = parse_config(base_config(tmp_path / "resumed"))
    calls = {"n": 0}

    def fail_once(run_id, t):
        calls["n"] += 1
        if run_id.endswith("__ts__1") and t == 12:
            raise Boom()

    with pytest.raises(Boom):
        run_experiment(cfg, progress=False, on_step=fail_once)
    steps, runs = dump_store(tmp_path / "resumed")
    assert any(status == "running" for _, status, _, _ in runs)
    run_experiment(cfg, progress=False).close()
    assert dump_store(tmp_path / "resumed") == dump_store(tmp_path / "full")


def test_steps_are_committed_in_groups_all_or_none(tmp_path):
    store = RunStore(tmp_path, commit_interval_s=3600.0)
    store.create_run("r", "a", "ucb", 0, "env", 3, {})
    reader = sqlite3.connect(tmp_path / "runs.sqlite")

    def step(t):
        return (StepRow("r", t, t, 1.0, None, None, None, {}), [], 0.0, None)

    def committed():
        return reader.execute("SELECT COUNT(*) FROM steps").fetchone()[0]

    store.append_steps([step(0)])
    assert committed() == 0  # in the open group
    store.flush()
    assert committed() == 1
    store.append_steps([step(1)])
    with pytest.raises(sqlite3.IntegrityError):
        store.append_steps([step(2), step(1)])  # a failing append leaves nothing of itself behind
    store.close()
    assert [r[0] for r in reader.execute("SELECT t FROM steps ORDER BY t")] == [0, 1]
    assert reader.execute("SELECT steps_done FROM runs").fetchone()[0] == 2
    store = RunStore(tmp_path, commit_interval_s=0.0)
    store.append_steps([step(2)])
    assert committed() == 3  # no grouping: committed when appended
    store.close()


def test_plain_steps_store_like_steps_and_a_failure_drops_the_open_group(tmp_path):
    """The batched path's rows are the one-by-one path's rows; a failing plain append rolls back to the last
    commit (as a crash would) and raises, leaving a consistent store."""
    store = RunStore(tmp_path / "a", commit_interval_s=3600.0)
    for run in ("r", "s"):
        store.create_run(run, "a", "ucb", 0, "env", 5, {})
    store.append_steps([(StepRow("r", 0, 3, 1.0, 0.5, 0.6, 1, {}), [], 0.0, None)])
    store.append_plain_steps([("s", 0, 3, 1.0, 0.5, 0.6, 1)], 0.0)
    store.flush()
    (r,), (s,) = store.steps("r"), store.steps("s")
    assert (r.t, r.action, r.reward, r.expected_reward, r.optimal_expected_reward, r.optimal_action, r.record) == \
        (s.t, s.action, s.reward, s.expected_reward, s.optimal_expected_reward, s.optimal_action, s.record)
    store.append_plain_steps([("s", 1, 2, 0.0, 0.5, 0.6, 1)], 0.0)  # open group
    with pytest.raises(sqlite3.IntegrityError):
        store.append_plain_steps([("s", 2, 2, 0.0, 0.5, 0.6, 1), ("s", 0, 2, 0.0, 0.5, 0.6, 1)], 0.0)
    store.close()
    with RunStore(tmp_path / "a", create=False) as again:
        assert [x.t for x in again.steps("s")] == [0]  # back to the last commit
        assert {row["run_id"]: row["steps_done"] for row in again.runs()} == {"r": 1, "s": 1}


def test_finished_runs_are_not_recomputed(tmp_path):
    cfg = parse_config(base_config(tmp_path / "o"))
    run_experiment(cfg, progress=False).close()
    seen = []
    run_experiment(cfg, progress=False, on_step=lambda r, t: seen.append(r)).close()
    assert seen == []


def test_changed_config_in_same_out_is_refused(tmp_path, capsys):
    cfg = base_config(tmp_path / "o")
    assert main(["run", "--quiet", str(write(tmp_path, cfg))]) == 0
    cfg["horizon"] = 40
    assert main(["run", "--quiet", str(write(tmp_path, cfg))]) == 2
    assert "different configuration" in capsys.readouterr().err


def test_cli_overrides_and_summary_json_and_plot(tmp_path, capsys):
    cfg = base_config(tmp_path / "ignored")
    out = tmp_path / "o"
    assert main(["run", "--quiet", str(write(tmp_path, cfg)), "--out", str(out), "--seeds", "0-3"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["agent"] for r in rows} == {"ucb", "rnd", "ts"}
    for r in rows:
        assert r["runs"] == 4 and r["horizon"] == 30 and r["regret_se"] >= 0
        assert {"suff_fail_freq", "k_min_frac", "greedy_frac"} <= r.keys()
    assert main(["plot", str(out)]) == 0
    png = Path(capsys.readouterr().out.strip())
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["summary", str(tmp_path / "missing")]) == 2


def test_print_config_shows_defaults(tmp_path, capsys):
    assert main(["run", str(write(tmp_path, base_config(tmp_path / "o"))), "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["batch_width"] == 64 and printed["cache"]["enabled"] is True
    assert not (tmp_path / "o").exists()


def test_print_config_expands_agent_and_optimiser_parameters(tmp_path, capsys):
    from expobench.agents.registry import AGENTS
    from expobench.metaopt.registry import OPTIMIZERS

    cfg = {"name": "p", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 5, "out": str(tmp_path / "o"),
           "llm": {"backend": "scripted"},
           "agents": [{"name": "ucb", "kind": "ucb"},
                      {"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSND"},
                       "optimizer": {"kind": "gpo", "params": {"n_candidates": 4}}}]}
    assert main(["run", str(write(tmp_path, cfg)), "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    ucb, llm = printed["agents"]
    assert ucb["params"] == AGENTS["ucb"].Params().model_dump(mode="json") and ucb["params"]
    assert llm["params"]["design"] == "BSSND" and set(llm["params"]) == set(AGENTS["llm_bandit"].Params.model_fields)
    gpo = llm["optimizer"]["params"]
    assert gpo["n_candidates"] == 4 and set(gpo) == set(OPTIMIZERS["gpo"].Params.model_fields)
    assert parse_config(printed).agents[1].optimizer.params["n_candidates"] == 4  # the printout is a valid config


def test_lockstep_width_does_not_change_results(tmp_path):
    a = parse_config(base_config(tmp_path / "a", batch_width=1))
    b = parse_config(base_config(tmp_path / "b", batch_width=64))
    run_experiment(a, progress=False).close()
    run_experiment(b, progress=False).close()
    assert dump_store(tmp_path / "a")[0] == dump_store(tmp_path / "b")[0]


def _run(actions, rewards, means, best):
    T = len(actions)
    return RunData("r", "a", 0, actions, np.array(rewards, float), np.array([means[a] for a in actions]),
                   np.full(T, max(means)), [best] * T, [{}] * T)


def test_metrics_match_hand_computation():
    means = [0.6, 0.4, 0.4]
    run = _run([1, 0, 2, 0, 0, 1], [0, 1, 1, 0, 1, 0], means, best=0)
    np.testing.assert_allclose(cumulative_regret(run), [0.2, 0.2, 0.4, 0.4, 0.4, 0.6])
    assert suffix_failure(run, 3) is False
    assert suffix_failure(_run([0, 1, 1, 2], [0, 0, 0, 0], means, 0), 2) is True
    assert min_frac(run, 3) == pytest.approx(3 * 1 / 6)
    # history-based empirical best: t1 {1:0} -> best 1, chose 0 no; t2 {0:1,1:0} -> best 0, chose 2 no;
    # t3 {0:1,1:0,2:1} -> best {0,2}, chose 0 yes; t4 {0:.5,2:1} -> best 2, chose 0 no; t5 best 2 (1.0 vs .67) no
    assert greedy_frac(run, 3) == pytest.approx(1 / 5)


def test_resume_tolerates_floating_point_noise_in_replayed_actions_only(tmp_path):
    """A GP fit is not bitwise reproducible across thread schedules: on resume, a replayed action within relative
    1e-6 of the stored one is replaced by it; a real difference is still a ReplayMismatch."""
    from expobench.agents.base import Agent
    from expobench.agents.registry import AGENTS, register_agent
    from expobench.experiments.runner import ReplayMismatch
    from expobench.experiments.store import RunStore

    jitter = {"eps": 0.0}

    @register_agent
    class Jittery(Agent):
        kind = "test_jittery"

        def reset(self, env, rng):
            self.t = 0

        def act(self, observation):
            return [1.0 + 0.1 * self.t + jitter["eps"], 2.0]

        def observe(self, action, reward, info):
            self.t += 1

    def cfg(out):
        return parse_config({"name": "j", "env": {"id": "expobench/BO-Branin-v0"}, "horizon": 4, "seeds": [0],
                             "agents": [{"name": "j", "kind": "test_jittery"}], "out": str(out)})

    class Stop(Exception):
        pass

    def stop_after_two(run_id, t):
        if t == 1:
            raise Stop

    try:
        with pytest.raises(Stop):
            run_experiment(cfg(tmp_path / "o"), progress=False, on_step=stop_after_two)
        jitter["eps"] = 1e-11
        run_experiment(cfg(tmp_path / "o"), progress=False).close()
        with RunStore(tmp_path / "o", create=False) as store:
            actions = [s.action for s in store.steps("BO-Branin-v0__j__0")]
        assert actions[:2] == [[1.0, 2.0], [1.1, 2.0]]  # the committed steps are kept exactly
        assert actions[2][0] == pytest.approx(1.2 + 1e-11, abs=0) and len(actions) == 4
        with pytest.raises(Stop):
            run_experiment(cfg(tmp_path / "p"), progress=False, on_step=stop_after_two)
        jitter["eps"] = 1e-3
        with pytest.raises(ReplayMismatch, match="not reproducible"):
            run_experiment(cfg(tmp_path / "p"), progress=False)
    finally:
        AGENTS.pop("test_jittery", None)


def test_paired_intervals_are_honest_at_small_n_and_identical_results_are_named():
    import numpy as np
    from scipy import stats

    from expobench.experiments.comparisons import SMALL_N, Comparison, paired_interval

    d = np.array([1.0, 3.0])
    mean, lo, hi, method = paired_interval(d)
    q = stats.t.ppf(0.975, 1)
    assert method == "paired t" and mean == 2.0 and (lo, hi) == pytest.approx((2 - q, 2 + q))  # ±12.7: honest
    assert paired_interval(np.arange(SMALL_N, dtype=float))[3] == "bootstrap"
    assert paired_interval(np.array([0.5]))[3] == "none"
    small = Comparison("expo", "fixed", 2, mean, lo, hi, method)
    assert small.small and "fewer than 5 paired seeds" in small.interval_text() and "n = 2" in small.interval_text()
    same = Comparison("expo", "fixed", 2, 0.0, 0.0, 0.0, "paired t", identical=True)
    assert same.interval_text().startswith("identical in all 2 paired seeds") and "[" not in same.interval_text()
