"""One conformance test per protocol, run over every registered implementation (as BoTorch runs one test mixin
over every test problem): agents, meta-prompt optimisers and backends. Each registered kind must appear in the
tables below, so a new kind without a conformance entry fails here."""

import inspect

import pytest

from expobench.agents.base import Agent
from expobench.agents.llm.types import Backend, LLMRequest, chat
from expobench.agents.llm_agent import LLMAgent
from expobench.agents.registry import AGENTS, agent_kinds, register_agent
from expobench.experiments.config import parse_config
from expobench.experiments.runner import run_experiment
from expobench.experiments.store import RunStore
from expobench.metaopt.base import MetaPromptOptimizer
from expobench.metaopt.registry import OPTIMIZERS, register_optimizer

SCRIPTED = {"backend": "scripted", "policy": "bandit_best_mean"}
# Every agent kind → an env it plays (and params that keep the test short).
AGENT_ENVS = {
    "random": "expobench/MAB-hard-v0", "greedy": "expobench/MAB-hard-v0", "epsilon_greedy": "expobench/MAB-hard-v0",
    "ucb": "expobench/MAB-hard-v0", "thompson": "expobench/MAB-hard-v0", "exp3": "expobench/MAB-hard-v0",
    "sw_ucb": "expobench/MAB-hard-v0", "discounted_thompson": "expobench/MAB-hard-v0",
    "llm_bandit": "expobench/MAB-hard-v0", "random_search": "expobench/BO-Branin-v0",
    "sobol": "expobench/BO-Branin-v0", "gp_ei": "expobench/BO-Branin-v0", "gp_ucb": "expobench/BO-Branin-v0",
    "tsp_nearest_neighbour": "expobench/TSP-10-v0", "tsp_farthest_insertion": "expobench/TSP-10-v0",
    "tsp_two_opt": "expobench/TSP-10-v0", "llm_opro": "expobench/LinReg-w2-b30-v0",
    "llm_llambo": "expobench/BO-Branin-v0",
    "q_learning": "expobench/RiverSwim-v0", "psrl": "expobench/RiverSwim-v0", "ucbvi": "expobench/RiverSwim-v0",
    "mdp_optimal": "expobench/RiverSwim-v0", "llm_mdp": "expobench/FrozenLake4x4-v0",
}
# Every optimiser kind → params that keep the test short (score networks: few Adam steps).
OPTIMIZER_PARAMS = {"fixed": {}, "expo": {"steps": 3}, "expo_es": {"steps": 3}, "neural_ucb": {"steps": 3},
                    "random": {}, "sw_ucb_pool": {}, "opro": {}, "gpo": {}, "expo_gpo": {"steps": 3}}


def _rows(out):
    with RunStore(out, create=False) as store:
        return [(r["run_id"], [(s.t, s.action, s.reward, s.record) for s in store.steps(r["run_id"])])
                for r in store.runs()]


def _run(out, agents, env, horizon, seeds=(0, 1), width=64, **extra):
    cfg = {"name": "conf", "env": {"id": env}, "horizon": horizon, "seeds": list(seeds), "agents": agents,
           "out": str(out), "llm": SCRIPTED, "batch_width": width, **extra}
    run_experiment(parse_config(cfg), progress=False).close()
    return _rows(out)


def _strip(rows):
    """Rows without wall-clock fields (latency)."""
    return [(rid, [(t, a, r, {k: v for k, v in rec.items() if k != "latency_s"}) for t, a, r, rec in steps])
            for rid, steps in rows]


def test_protocol_bases_are_abstract_and_every_kind_has_a_conformance_entry():
    for base in (Agent, LLMAgent, MetaPromptOptimizer, Backend):
        assert inspect.isabstract(base), base
    assert set(agent_kinds()) == set(AGENT_ENVS)
    assert set(OPTIMIZERS) == set(OPTIMIZER_PARAMS)
    assert not any(inspect.isabstract(cls) for cls in (*AGENTS.values(), *OPTIMIZERS.values()))


def test_an_incomplete_plug_in_is_refused_when_registered():
    class NoObserve(Agent):
        kind = "no_observe"

        def reset(self, env, rng):
            pass

        def act(self, observation):
            return 0

    with pytest.raises(TypeError, match="does not implement observe"):
        register_agent(NoObserve)

    class NoAct(Agent):
        kind = "no_act"

        def reset(self, env, rng):
            pass

        def observe(self, action, reward, info):
            pass

    with pytest.raises(TypeError, match="neither act nor decide"):
        register_agent(NoAct)

    class NoPropose(MetaPromptOptimizer):
        kind = "no_propose"

        def update(self, score, info):
            pass

    with pytest.raises(TypeError, match="neither propose nor propose_steps"):
        register_optimizer(NoPropose)
    assert "no_observe" not in AGENTS and "no_act" not in AGENTS and "no_propose" not in OPTIMIZERS


@pytest.mark.parametrize("kind", sorted(AGENT_ENVS))
def test_agent_kind_is_seeded_deterministic_and_batch_equals_single(kind, tmp_path):
    """Same seeds → identical steps; runs advanced together (lockstep width 2) → the same steps as one by one."""
    agents = [{"name": "a", "kind": kind}]
    together = _run(tmp_path / "a", agents, AGENT_ENVS[kind], 3)
    again = _run(tmp_path / "b", agents, AGENT_ENVS[kind], 3)
    single = _run(tmp_path / "c", agents, AGENT_ENVS[kind], 3, width=1)
    assert _strip(together) == _strip(again) == _strip(single)
    assert all(len(steps) == 3 for _, steps in together)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(OPTIMIZER_PARAMS))
def test_optimizer_kind_resumes_exactly_and_single_equals_batch(kind, tmp_path):
    """With an LLM agent: runs advanced one at a time, stopped mid-way and resumed (the optimiser rebuilt by
    replay), give exactly the steps of the uninterrupted lockstep run."""
    agents = [{"name": "o", "kind": "llm_bandit", "params": {"design": "BSSND"},
               "optimizer": {"kind": kind, "params": OPTIMIZER_PARAMS[kind]}}]
    env = "expobench/MAB-hard-v0"  # the shipped BSSND pool matches the 25-round task
    full = _run(tmp_path / "a", agents, env, 25, cache={"enabled": False})

    class Stop(Exception):
        pass

    def stop_at(run_id, t):
        if t == 5:
            raise Stop

    cfg = parse_config({"name": "conf", "env": {"id": env}, "horizon": 25, "seeds": [0, 1], "agents": agents,
                        "out": str(tmp_path / "c"), "llm": SCRIPTED, "cache": {"enabled": False},
                        "batch_width": 1})  # one run at a time, stopped and resumed: must equal lockstep
    with pytest.raises(Stop):
        run_experiment(cfg, progress=False, on_step=stop_at)
    run_experiment(cfg, progress=False).close()
    assert _strip(_rows(tmp_path / "c")) == _strip(full)


def test_every_backend_returns_n_completions_per_request_and_batches_like_single_calls():
    """The scripted backend and the OpenAI-compatible one (against the fake server); the embedded and vLLM
    engines are held to the same contract by the tests that run them (test_llm_backends, test_vllm)."""
    from expobench.agents.llm.config import LLMConfig, make_backend
    from expobench.agents.llm.types import Constraint
    from tests.llm_fake_server import FakeServer

    reqs = [LLMRequest(chat("Pick.", f"Round {i}: which colour?"), temperature=0.0, max_tokens=4, n=1 + i % 2,
                       seed=i, constraint=Constraint(choice=("blue", "green", "red"))) for i in range(4)]
    seen = set()
    with FakeServer() as server:
        backends = [("scripted", make_backend(LLMConfig(backend="scripted", policy="random_choice"))),
                    ("openai", make_backend(LLMConfig(backend="openai", base_url=server.url, model="fake",
                                                      server_kind="vllm")))]
        for name, backend in backends:
            seen.add(name)
            assert isinstance(backend, Backend) and backend.name and backend.model_id
            batch = backend.generate(reqs)
            assert [len(x) for x in batch] == [r.n for r in reqs]
            single = [backend.generate([r])[0] for r in reqs]
            assert [[c.text for c in x] for x in batch] == [[c.text for c in x] for x in single]
            assert all(c.text in ("blue", "green", "red") for x in batch for c in x)
    assert seen == {"scripted", "openai"}
