"""The OPRO-style agents' rendered prompts (system: D and I; user: exemplars and, for LLAMBO, the target) and their
output constraints, per task, against golden files. Regenerate deliberately with UPDATE_GOLDEN=1 (optionally
GOLDEN_CASES=name,name to regenerate only those). The ``*-protocol-opro`` cases render OPRO's own protocol (one user
message, instruction last, integer values)."""

import os
from pathlib import Path

import numpy as np
import pytest

from expobench.agents.registry import make_agent
from expobench.experiments.config import parse_config

GOLDEN = Path(__file__).parent / "golden" / "opro"
CASES = {
    "linreg-opro": ("expobench/LinReg-w2-b30-v0", "llm_opro", {}),
    "linreg-enhanced": ("expobench/LinReg-w2-b30-v0", "llm_opro", {"enhanced": True}),
    "tsp10-opro": ("expobench/TSP-10-v0", "llm_opro", {}),
    "linreg-protocol-opro": ("expobench/LinReg-w15-b14-v0", "llm_opro", {}, {"protocol": "opro"}),
    "tsp10-protocol-opro": ("expobench/TSP-10-v0", "llm_opro", {}, {"protocol": "opro"}),
    "branin-opro": ("expobench/BO-Branin-v0", "llm_opro", {}),
    "branin-llambo": ("expobench/BO-Branin-v0", "llm_llambo", {}),
    "hpo-dt-iris-opro": ("expobench/HPO-dt-iris-v0", "llm_opro", {}),
}


def rendered(env_id: str, kind: str, params: dict, env_kwargs: dict | None = None) -> str:
    import gymnasium as gym

    env_kwargs = env_kwargs or {}
    cfg = parse_config({"name": "g", "env": {"id": env_id, "kwargs": env_kwargs}, "horizon": 10, "seeds": [0],
                        "agents": [{"name": "a", "kind": kind, "params": params}],
                        "llm": {"backend": "scripted"}})
    env = gym.make(env_id, **env_kwargs).unwrapped
    env.reset(seed=0)
    agent = make_agent(kind, params)
    agent.configure(agent_config=cfg.agents[0], experiment=cfg, seed=0)
    agent.reset(env, np.random.default_rng(0))
    ctx = agent.proposal_context()
    mp = agent.start_meta_prompt().with_exemplars(ctx.exemplar_candidates[ctx.heuristic])
    parts = [f"[{m.role}]\n{m.content}" for m in agent.messages(mp)]
    parts.append(f"[constraint] {agent.task.constraint().to_json()}")
    return "\n\n".join(parts) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_opro_rendering_matches_golden_file(case, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))  # HPO warm-start evaluations
    path = GOLDEN / f"{case}.txt"
    text = rendered(*CASES[case])
    only = os.environ.get("GOLDEN_CASES")
    if os.environ.get("UPDATE_GOLDEN") and (not only or case in only.split(",")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"golden file missing: run with UPDATE_GOLDEN=1 to create {path}"
    assert text == path.read_text()
