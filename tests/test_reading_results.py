"""What a reader of the summary and report is told: the best-arm position artefact, regret by position, and the
time each run spent."""

from __future__ import annotations

import pytest

from expobench.agents.base import Agent
from expobench.agents.registry import AGENTS, register_agent
from expobench.experiments.cli import main
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import RunData, final_arms, load_runs, position_warning, regret_by_position
from expobench.experiments.report import analyse, render_markdown
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore


class FirstButton(Agent):
    """Always plays arm 0: what a model that favours the first button does."""

    kind = "first_button"

    def reset(self, env, rng):
        pass

    def act(self, observation):
        return 0

    def observe(self, action, reward, info):
        pass


@pytest.fixture
def first_button():
    """The agent registered for one test only (the kind must not leak into the registry other tests read)."""
    register_agent(FirstButton)
    yield
    AGENTS.pop(FirstButton.kind, None)


def _bandit(tmp_path, kwargs, seeds=8):
    cfg = parse_config({"name": "pos", "env": {"id": "expobench/MAB-hard-v0", "kwargs": kwargs}, "horizon": 20,
                        "seeds": list(range(seeds)), "agents": [{"name": "ucb", "kind": "ucb"},
                                                                {"name": "first", "kind": "first_button"}],
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    return tmp_path / "o"


def test_a_fixed_best_arm_position_is_warned_about(tmp_path, capsys, first_button):
    out = _bandit(tmp_path, {"best_arm": 0})
    with RunStore(out, create=False) as store:
        data = load_runs(store)
    assert "position 0" in position_warning(data) and regret_by_position(data) == {}
    rep = analyse(out)
    assert any("position 0" in n for n in rep.notes)
    assert "**Warning:**" in render_markdown([rep], tmp_path / "r.md")
    assert main(["summary", str(out)]) == 0
    assert "warning:" in capsys.readouterr().out


def test_positions_drawn_per_seed_give_regret_by_position_and_no_warning(tmp_path, capsys, first_button):
    out = _bandit(tmp_path, {})
    with RunStore(out, create=False) as store:
        data = load_runs(store)
    assert position_warning(data) is None
    by = regret_by_position(data)
    assert len(by["first"]) >= 2
    # an agent that always plays arm 0 has no regret exactly when the best arm is at 0
    assert all((m == 0) == (p == 0) for p, (m, _) in by["first"].items())
    assert sum(n for _, n in by["first"].values()) == 8
    md = render_markdown([analyse(out)], tmp_path / "r.md")
    assert "by best-arm position" in md and "Warning" not in md
    assert main(["summary", str(out)]) == 0
    assert "by best-arm position" in capsys.readouterr().out


def test_the_arm_each_run_settled_on_is_counted_and_shown(tmp_path, capsys, first_button):
    """With the position drawn per seed, an agent that always plays arm 0 settles on arm 0 in every run and on the
    best arm only where the best arm is at 0; the report and the summary show both."""
    out = _bandit(tmp_path, {})
    with RunStore(out, create=False) as store:
        data = load_runs(store)
    settled = final_arms(data, 5)
    first = settled["first"]
    at_zero = sum(r.optimal_actions[-1] == 0 for r in data["first"])
    assert first.counts == [8, 0, 0, 0, 0] and first.on_best == at_zero < 8 and first.runs == 8
    assert sum(settled["ucb"].counts) == 8
    md = render_markdown([analyse(out)], tmp_path / "r.md")
    assert "Arm played most in the last 5 rounds" in md and f"| first | 8 | 0 | 0 | 0 | 0 | {at_zero} of 8 |" in md
    assert main(["summary", str(out)]) == 0
    assert f"first: arm played most in the last 5 rounds -- arm 0: 8 (on the best arm in {at_zero} of 8" \
        in capsys.readouterr().out


def test_a_tie_in_the_last_rounds_goes_to_the_arm_played_last_not_to_the_first_position():
    def run(actions, best):
        n = len(actions)
        return RunData("r", "a", 0, actions, *[__import__("numpy").zeros(n)] * 3, [best] * n, [{}] * n)

    settled = final_arms({"a": [run([0, 3, 0, 3, 2], 2), run([1, 1, 4, 4, 2], 4), run([0, 0, 0, 1, 1], 0)]}, 5)
    assert settled["a"].counts == [1, 0, 0, 1, 1] and settled["a"].on_best == 2
    assert final_arms({"a": [run([0.5, 0.1], 0)]}, 5) == {} and final_arms({"a": [run([0], 0)]}, None) == {}


@pytest.mark.slow
@pytest.mark.llm
def test_time_per_run_charges_each_run_its_own_time(tmp_path):
    """UCB stepped in lockstep with a real LLM agent is charged its own compute, not the LLM's."""
    cfg = parse_config({"name": "time", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 3, "seeds": [0],
                        "agents": [{"name": "ucb", "kind": "ucb"},
                                   {"name": "llm", "kind": "llm_bandit", "params": {"design": "BSSN0"}}],
                        "llm": {"backend": "llamacpp", "model": "smollm2-135m-instruct", "n_ctx": 2048},
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        wall = {r["agent"]: r["wall_s"] for r in store.runs()}
        total = store.get_meta("wall_s")
    assert wall["llm"] > 0 and wall["ucb"] < 0.05 * wall["llm"]
    assert total >= wall["llm"]
    rep = analyse(tmp_path / "o")
    assert rep.wall_s == pytest.approx(total) and "Experiment wall time" in render_markdown([rep], tmp_path / "r.md")


def test_identical_agents_are_drawn_once_and_named_as_identical(tmp_path):
    import matplotlib.pyplot as plt

    from expobench.experiments.plots import metric_figure

    cfg = parse_config({"name": "twins", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 30, "seeds": [0, 1],
                        "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "ucb_again", "kind": "ucb"},
                                   {"name": "thompson", "kind": "thompson"}],
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        fig = metric_figure(store)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert sorted(labels) == ["thompson (n=2)", "ucb ≡ ucb_again (n=2)"]
    styles = {line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert len(styles) == 2


def test_optimiser_plot_labels_candidates_by_their_instruction(tmp_path):
    from expobench.experiments.plots import candidate_labels

    cfg = parse_config({"name": "opt", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 6, "seeds": [0],
                        "agents": [{"name": "expo", "kind": "llm_bandit", "params": {"design": "BSSN0"},
                                    "optimizer": {"kind": "expo", "params": {"eta": 10, "steps": 5}}}],
                        "llm": {"backend": "scripted", "policy": "first_choice"}, "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    with RunStore(tmp_path / "o", create=False) as store:
        (runs,) = load_runs(store).values()
        labels = candidate_labels(store, runs)
        used = {str([rec["mp_ids"]["d"], rec["mp_ids"]["i"]]): rec["di_hash"] for rec in runs[0].records}
        assert set(labels) == set(used)
        for arm, h in used.items():
            instruction = " ".join(store.prompt(h)[1].split())
            assert labels[arm].endswith(arm) and instruction[:20] in labels[arm]


def test_readers_answer_any_store_with_a_sentence(tmp_path, capsys):
    from expobench.experiments.runner import StoreMismatch

    bad = tmp_path / "garbage"
    bad.mkdir()
    (bad / "runs.sqlite").write_text("not a database")
    empty = tmp_path / "empty"
    RunStore(empty).close()
    for command in ("summary", "plot", "report", "export"):
        assert main([command, str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("expobench: error: ") and len(err.splitlines()) == 1
        assert "not a run store" in err or "cannot read the run store" in err
    assert main(["summary", str(empty)]) == 0 and "no committed steps yet" in capsys.readouterr().out
    assert main(["report", str(empty)]) == 2 and "holds no runs" in capsys.readouterr().err
    # a second experiment (another env) in the same directory is refused before any work
    base = {"name": "a", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 5, "out": str(tmp_path / "one"),
            "agents": [{"name": "ucb", "kind": "ucb"}]}
    run_experiment(parse_config(base), progress=False).close()
    other = {**base, "env": {"id": "expobench/BO-Branin-v0"}, "agents": [{"name": "rs", "kind": "random_search"}]}
    with pytest.raises(StoreMismatch, match="one output directory holds one experiment"):
        run_experiment(parse_config(other), progress=False)
    run_experiment(parse_config({**base, "seeds": [0, 1]}), progress=False).close()  # more seeds: the same one


def test_a_store_mixing_environments_is_named_not_summarised(tmp_path, capsys):
    with RunStore(tmp_path / "mixed") as store:
        for env_id, agent in (("expobench/MAB-hard-v0", "ucb"), ("expobench/BO-Branin-v0", "rs")):
            store.create_run(f"{env_id[10:]}__{agent}__0", agent, agent, 0, env_id, 5,
                             {"env": {"id": env_id}, "agent": {"kind": agent}})
    for command in ("summary", "report", "plot"):
        assert main([command, str(tmp_path / "mixed")]) == 2
        assert "holds runs of several environments" in capsys.readouterr().err


def test_a_requested_comparison_of_two_seeds_is_flagged(tmp_path, capsys):
    cfg = parse_config({"name": "c", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 40, "seeds": [0, 1],
                        "agents": [{"name": "ucb", "kind": "ucb"}, {"name": "thompson", "kind": "thompson"}],
                        "out": str(tmp_path / "o")})
    run_experiment(cfg, progress=False).close()
    assert main(["report", str(tmp_path / "o"), "--compare", "ucb:thompson", "--dest", str(tmp_path / "r")]) == 0
    (row,) = [line for line in (tmp_path / "r.md").read_text().splitlines() if line.startswith("| ucb | thompson |")]
    assert "paired t interval" in row and "n = 2" in row and "fewer than 5 paired seeds" in row


def test_reproduction_configs_of_bandits_keep_the_papers_best_arm_position_and_have_a_random_twin():
    from pathlib import Path

    from expobench.experiments.config import load_config

    root = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "reproduce"
    fixed, twins = set(), set()
    for path in sorted(root.glob("*/*.yaml")):
        cfg = load_config(path)
        if cfg.env.id in ("expobench/MAB-hard-v0", "expobench/MAB-easy-v0", "expobench/MAB-hard-changepoint-v0",
                          "expobench/MAB-hard-drift-v0"):
            if path.stem.endswith("-randarm"):
                assert cfg.env.kwargs.get("best_arm") == "random", path
                twins.add((path.parent.name, path.stem.removesuffix("-randarm")))
                twin = load_config(path.with_name(path.stem.removesuffix("-randarm") + ".yaml"))
                assert cfg.model_dump(exclude={"name", "out", "env"}) == twin.model_dump(exclude={"name", "out", "env"})
            else:
                assert cfg.env.kwargs.get("best_arm") == 0, path
                fixed.add((path.parent.name, path.stem))
    assert len(fixed) >= 14 and twins == fixed
    assert {stem for _, stem in fixed} >= {"nonstationary-changepoint", "nonstationary-drift"}


def test_markdown_report_renders_llm_written_prompts_inert(tmp_path):
    """A candidate prompt is untrusted text: the Markdown report escapes it (no live HTML, no Markdown markup)."""
    from expobench.experiments.runner import base_meta_prompt_for
    from expobench.metaopt.pools import CandidatePool

    evil = "<script>alert(1)</script> **loud** [link](http://x) | cell"
    agents = [{"name": "rnd", "kind": "llm_bandit", "params": {"design": "BSSND"},
               "optimizer": {"kind": "random", "pool": {"path": str(tmp_path / "pool.json")}}}]
    cfg = parse_config({"name": "evil", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 30, "seeds": [0],
                        "agents": agents, "llm": {"backend": "scripted", "policy": "bandit_best_mean"},
                        "out": str(tmp_path / "o")})
    base = base_meta_prompt_for(cfg, cfg.agents[0])
    CandidatePool([base.description, evil], [base.instruction, evil]).save(tmp_path / "pool.json")
    run_experiment(cfg, progress=False).close()
    md = render_markdown([analyse(tmp_path / "o")], tmp_path / "r.md")
    assert "&lt;script&gt;" in md  # the random optimiser used the evil candidate, and it is shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\*\\*loud\\*\\* \\[link\\](http://x) \\| cell" in md
    assert "<script>" not in md


def test_summary_and_report_warn_when_an_agent_is_cut_to_another_agents_evaluations(tmp_path, capsys,
                                                                                    tsp_with_baseline):
    """Without an evaluation budget, 3 steps of 4 proposals are read at the baseline's 3 evaluations: the reader
    is told; with `evaluations` every agent makes 12 and nothing is said."""
    run_experiment(tsp_with_baseline(tmp_path / "cut", horizon=3), progress=False).close()
    assert main(["summary", str(tmp_path / "cut")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "compared at 3 evaluations" in out and "opro's runs made at least 12" in out
    assert any("`evaluations`" in w for w in analyse(tmp_path / "cut").notes)

    run_experiment(tsp_with_baseline(tmp_path / "equal", horizon=12, evaluations=12), progress=False).close()
    assert main(["summary", str(tmp_path / "equal")]) == 0
    assert "evaluations after the initial design" not in capsys.readouterr().out
    assert analyse(tmp_path / "equal").notes == []
