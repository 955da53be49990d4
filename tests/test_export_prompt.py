"""`summary` shows each optimiser's best meta-prompt; `export-prompt` turns it into a reusable fixed prompt."""

import yaml

from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.experiments.cli import main
from expobench.experiments.comparisons import optimiser_best_prompts
from expobench.experiments.config import parse_config
from expobench.experiments.metrics import load_runs
from expobench.experiments.runner import base_meta_prompt_for, run_experiment
from expobench.experiments.store import RunStore
from expobench.metaopt.pools import CandidatePool

SCRIPTED = {"backend": "scripted", "policy": "bandit_best_mean"}


def _config(out, agents, horizon=12, seeds=(0, 1)):
    return parse_config({"name": "exp", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon,
                         "seeds": list(seeds), "agents": agents, "llm": SCRIPTED, "out": str(out)})


def _optimised_run(tmp_path):
    agents = [{"name": "fixed", "kind": "llm_bandit", "params": {"design": "BSSND"}},
              {"name": "rnd", "kind": "llm_bandit", "params": {"design": "BSSND"},
               "optimizer": {"kind": "random", "pool": {"path": str(tmp_path / "pool.json")}}}]
    cfg = _config(tmp_path / "o", agents)
    base = base_meta_prompt_for(cfg, cfg.agents[1])
    CandidatePool([base.description, "You are a careful gambler facing five buttons.", "Pick buttons well."],
                  [base.instruction, "Answer with a probability for every button.",
                   "Give the distribution."]).save(tmp_path / "pool.json")
    run_experiment(cfg, progress=False).close()
    return tmp_path / "o"


def test_summary_lists_difference_to_fixed_and_best_prompt(tmp_path, capsys):
    out = _optimised_run(tmp_path)
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rnd − fixed (final cumulative_regret, 2 paired seeds)" in text
    with RunStore(out, create=False) as store:
        best = optimiser_best_prompts(store, k=1)["rnd"][0]
    assert f"best meta-prompt of rnd (mean prompt score {best['mean_score']:.3f}" in text
    assert best["instruction"] in text


def test_exported_prompt_runs_as_a_fixed_agent(tmp_path, capsys):
    out = _optimised_run(tmp_path)
    with RunStore(out, create=False) as store:
        best = optimiser_best_prompts(store, k=1)["rnd"][0]
        used = {rec["di_hash"] for r in load_runs(store)["rnd"] for rec in r.records}
    assert len(used) > 1  # the optimiser did explore several candidates
    dest = tmp_path / "best.yaml"
    assert main(["export-prompt", str(out), "--agent", "rnd", "--output", str(dest)]) == 0
    (entry,) = yaml.safe_load(dest.read_text())
    assert entry["name"] == "rnd_best" and entry["kind"] == "llm_bandit"
    assert entry["params"]["description"] == best["description"]
    assert entry["params"]["instruction"] == best["instruction"]

    cfg = _config(tmp_path / "o2", [entry], horizon=5, seeds=[3])
    run_experiment(cfg, progress=False).close()
    expected = MetaPrompt(best["description"], best["instruction"]).di_digest()
    assert expected == best["di_hash"]
    with RunStore(tmp_path / "o2", create=False) as store:
        (run,) = load_runs(store)["rnd_best"]
        assert {rec["di_hash"] for rec in run.records} == {expected}
        assert store.prompt(expected) == (best["description"], best["instruction"])


def test_export_prompt_rejects_an_agent_without_optimiser(tmp_path, capsys):
    out = _optimised_run(tmp_path)
    assert main(["export-prompt", str(out), "--agent", "fixed"]) == 2
    err = capsys.readouterr().err
    assert "'fixed': not an agent with a meta-prompt optimiser; allowed: rnd" in err


def test_markdown_report_links_plots_copied_beside_it(tmp_path):
    import re

    from expobench.experiments.report import write_report

    out = _optimised_run(tmp_path)
    html_path, md_path = write_report([out], tmp_path / "elsewhere" / "report")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_path.read_text())
    assert len(links) == 2 and all((md_path.parent / link).is_file() for link in links)
    assert "| rnd | fixed | 2 |" in md_path.read_text()


def test_exported_entry_pastes_under_an_indented_agents_list(tmp_path, capsys):
    out = _optimised_run(tmp_path)
    assert main(["export-prompt", str(out), "--agent", "rnd"]) == 0
    exported = capsys.readouterr().out
    config = ("name: pasted\nenv: {id: expobench/MAB-hard-v0}\nhorizon: 3\nllm: {backend: scripted}\n"
              f"out: {tmp_path / 'p'}\nagents:\n  - {{name: ucb, kind: ucb}}\n{exported}")
    cfg = parse_config(yaml.safe_load(config))
    assert [a.name for a in cfg.agents] == ["ucb", "rnd_best"]


def test_export_prompt_config_runs_as_is_and_report_compares_the_pair(tmp_path, capsys):
    from expobench.experiments.config import load_config

    out = _optimised_run(tmp_path)
    dest = tmp_path / "heldout.yaml"
    assert main(["export-prompt", str(out), "--agent", "rnd", "--config", str(dest)]) == 0
    cfg = load_config(dest)
    assert cfg.seeds == [2, 3]  # as many seeds as the source (0, 1), after them: held out
    assert [a.name for a in cfg.agents] == ["rnd_fixed", "rnd_best"]
    assert cfg.agents[0].optimizer is None and cfg.agents[1].optimizer is None
    assert cfg.env.id == "expobench/MAB-hard-v0" and cfg.horizon == 12
    cfg = cfg.model_copy(update={"out": tmp_path / "held"})
    run_experiment(cfg, progress=False).close()
    capsys.readouterr()
    assert main(["report", str(tmp_path / "held"), "--compare", "rnd_best:rnd_fixed",
                 "--dest", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r.md").read_text()
    assert "### Requested comparisons" in md
    (row,) = [line for line in md.splitlines() if line.startswith("| rnd_best | rnd_fixed | 2 |")]
    # the scripted policy ignores the prompt, so the pair is identical here, and said to be
    assert "identical in all 2 paired seeds" in row
    assert main(["report", str(tmp_path / "held"), "--compare", "rnd_best:nobody"]) == 2
    assert "--compare rnd_best:nobody" in capsys.readouterr().err
    assert main(["export-prompt", str(out), "--agent", "rnd", "--config", str(dest), "--seeds", "7-8"]) == 0
    assert load_config(dest).seeds == [7, 8]


def test_report_compares_two_fixed_prompt_agents(tmp_path):
    from expobench.experiments.report import write_report

    out = _optimised_run(tmp_path)
    _, md_path = write_report([out], tmp_path / "r", [("fixed", "rnd")])
    assert "| fixed | rnd | 2 |" in md_path.read_text().split("### Requested comparisons")[1]
