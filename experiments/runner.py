"""The experiment runner: every (agent, seed) run, advanced in lockstep, each step committed to the run store.

Lockstep: up to ``batch_width`` runs advance together. At every step each run's agent ``decide`` generator may
yield LLM requests; the runner gathers the requests of all runs that share an LLM client and sends them in one
``generate`` call, then sends each run its completions. Results equal one-by-one execution: a run's requests,
seeds and cache keys depend on the run alone.

Resume: a run with ``k`` committed steps is rebuilt from its seed and its first ``k`` steps are replayed --
the agent decides again, its LLM requests are answered from the completions stored with those steps (no model
call), and every replayed action and reward is checked against the store -- then it continues live. Numeric
actions that differ from the stored ones only by floating-point noise (relative 1e-6; GP fits are not bitwise
reproducible across thread schedules) are replaced by the stored ones.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import expobench.envs  # noqa: F401  (registers env ids)
from expobench.agents.base import Agent, Decision, evaluation_count
from expobench.agents.llm.metaprompt import MetaPrompt
from expobench.agents.llm.types import Completion, LLMRequest
from expobench.agents.registry import make_agent
from expobench.experiments.config import AgentConfig, ExperimentConfig
from expobench.experiments.errors import StoreBusy, StoreMismatch
from expobench.experiments.llm_clients import ClientPool
from expobench.experiments.metrics import metric_for
from expobench.experiments.optimizers import build_optimizer, decide_with_optimizer, update_optimizers
from expobench.experiments.preflight import preflight
from expobench.experiments.progress import progress_bar
from expobench.experiments.seeding import seed_streams
from expobench.experiments.store import CallRow, RunStore, StepRow, dumps, to_jsonable
from expobench.metaopt.base import MetaPromptOptimizer

_INFO_COLUMNS = {"expected_reward", "optimal_expected_reward", "optimal_action", "means"}


class ReplayMismatch(RuntimeError):
    """A resumed run did not reproduce its committed prefix (non-deterministic agent or changed code)."""


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    agent: AgentConfig
    seed: int


def run_name(env_id: str, agent: str, seed: int) -> str:
    """Readable run id: ``env__agent__seed`` (``expobench/`` prefix dropped)."""
    return f"{env_id.split('/')[-1]}__{agent}__{seed}"


def run_specs(cfg: ExperimentConfig) -> list[RunSpec]:
    return [RunSpec(run_name(cfg.env.id, a.name, s), a, s) for a in cfg.agents for s in cfg.seeds]


def run_config(cfg: ExperimentConfig, spec: RunSpec) -> dict[str, Any]:
    """Everything that determines a run's results (compared on resume)."""
    agent = spec.agent.model_dump(mode="json")
    if to_jsonable(agent.get("llm")) is None and getattr(make_agent_cls(spec.agent.kind), "uses_llm", False):
        agent["llm"] = cfg.llm.model_dump(mode="json")
    out = {"env": cfg.env.model_dump(mode="json"), "horizon": cfg.horizon, "seed": spec.seed, "agent": agent}
    if cfg.evaluations is not None:
        out["evaluations"] = cfg.evaluations
    return out


def make_agent_cls(kind: str) -> type[Agent]:
    from expobench.agents.registry import AGENTS, agent_kinds

    agent_kinds()
    return AGENTS[kind]


@dataclass
class RunState:
    spec: RunSpec
    env: gym.Env
    agent: Agent
    horizon: int
    obs: Any
    optimizer: MetaPromptOptimizer | None = None  # LLM agents: the run's meta-prompt optimiser
    t: int = 0
    done: bool = False
    budget: int | None = None  # the config's evaluation budget (None: horizon steps)
    evaluations: int = 0  # evaluations after the initial design so far
    replay_steps: list[StepRow] = field(default_factory=list)
    replay_calls: dict[int, list[CallRow]] = field(default_factory=dict)
    calls: list[CallRow] = field(default_factory=list)
    core: Any = field(init=False)  # env.unwrapped (the batched path steps it directly)
    batch_key: tuple[type, type] | None = field(init=False)  # (agent, env class) when the batched path may apply

    def __post_init__(self) -> None:
        self.core = self.env.unwrapped
        cls, env_cls, spec = type(self.agent), type(self.core), self.env.spec
        self.batch_key = None
        if (hasattr(cls, "act_batch") and hasattr(env_cls, "step_batch") and self.optimizer is None
                and spec is not None and spec.max_episode_steps is None and not spec.additional_wrappers):
            self.batch_key = (cls, env_cls)

    @property
    def replaying(self) -> bool:
        return self.t < len(self.replay_steps)

    def take_replayed(self, req: LLMRequest) -> list[Completion]:
        stored = self.replay_calls.get(self.t, [])
        out = []
        for _ in range(req.n):
            if not stored or stored[0].request_hash != req.digest():
                raise ReplayMismatch(
                    f"run {self.spec.run_id}: step {self.t} asked for an LLM request that the store does not "
                    "hold; the agent or its prompts changed since the run started (use a new --out)"
                )
            out.append(stored.pop(0).completion)
        return out


def make_env(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    """``gymnasium.make`` with Gymnasium's passive env checker on (it checks the first reset and step), minus its
    advice to normalise Box action spaces: the BO and HPO envs keep their natural units on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        return gym.make(env_id, **kwargs)


def _start_run(cfg: ExperimentConfig, spec: RunSpec, store: RunStore, clients: ClientPool) -> RunState:
    env = make_env(cfg.env.id, cfg.env.kwargs)
    env_seed, agent_rng = seed_streams(spec.seed)
    obs, _ = env.reset(seed=env_seed)
    agent = make_agent(spec.agent.kind, spec.agent.params)
    agent.horizon = cfg.horizon
    clients.wire(agent, spec)
    agent.reset(env.unwrapped, agent_rng)
    optimizer = None
    if agent.uses_llm:
        optimizer = build_optimizer(spec.agent.optimizer, agent.start_meta_prompt(),
                                    lambda: clients.get(clients.key_for(spec.agent, "optimizer")), agent_rng)
    state = RunState(spec, env, agent, cfg.horizon, obs, optimizer, budget=cfg.evaluations)
    if store.get_run(spec.run_id) is None:
        if isinstance(env.action_space, gym.spaces.Discrete) and store.get_meta("n_actions") is None:
            store.set_meta("n_actions", int(env.action_space.n))  # read by the bandit diagnostics
        store.create_run(spec.run_id, spec.agent.name, spec.agent.kind, spec.seed, cfg.env.id, cfg.horizon,
                         run_config(cfg, spec))
    else:
        state.replay_steps = store.steps(spec.run_id)
        state.replay_calls = store.calls(spec.run_id)
    return state


def prepared_agent(cfg: ExperimentConfig, agent_cfg: AgentConfig, seed: int = 0) -> tuple[gym.Env, Any, Agent]:
    """``(env, first observation, agent)`` of an LLM agent of ``cfg`` as the run of ``seed`` starts them, without
    LLM clients (for what is derived from an agent without a model: its start (D, I), a cost plan)."""
    env = make_env(cfg.env.id, cfg.env.kwargs)
    env_seed, agent_rng = seed_streams(seed)
    obs, _ = env.reset(seed=env_seed)
    agent = make_agent(agent_cfg.kind, agent_cfg.params)
    if not getattr(agent, "uses_llm", False):
        raise ValueError(f"agent {agent_cfg.name!r} is not an LLM agent")
    agent.configure(agent_config=agent_cfg, experiment=cfg, seed=seed)
    agent.reset(env.unwrapped, agent_rng)
    return env, obs, agent


def base_meta_prompt_for(cfg: ExperimentConfig, agent_cfg: AgentConfig, seed: int = 0) -> MetaPrompt:
    """The (D0, I0) an LLM agent of ``cfg`` starts from in the run of ``seed`` (built exactly as in a run, without
    an LLM; it depends on the seed only where the task text does, e.g. ``labels: permuted``)."""
    return prepared_agent(cfg, agent_cfg, seed)[2].start_meta_prompt()


def _drive(states: Sequence[RunState], clients: ClientPool, seconds: list[float] | None = None) -> list[Decision]:
    """Run every state's ``decide`` generator to completion, batching live LLM requests per client.

    ``seconds[i]``, when given, is increased by what run ``i`` cost: the time its generator ran plus, for each
    backend call, the call's time shared equally among the requests in it (so a classical agent stepped in
    lockstep with an LLM agent is not charged the LLM's time)."""
    gens = {i: decide_with_optimizer(s.agent, s.optimizer) if s.optimizer is not None else s.agent.decide(s.obs)
            for i, s in enumerate(states)}
    pending: dict[int, list[LLMRequest]] = {}
    decisions: dict[int, Decision] = {}
    spent = seconds if seconds is not None else [0.0] * len(states)

    def advance(i: int, value: list[list[Completion]] | None) -> None:
        t0 = time.perf_counter()
        try:
            reqs = gens[i].send(value)
        except StopIteration as stop:
            decisions[i] = stop.value
            return
        finally:
            spent[i] += time.perf_counter() - t0
        if not reqs:
            raise RuntimeError(f"agent {states[i].spec.agent.name} yielded no requests")
        pending[i] = list(reqs)

    for i in gens:
        advance(i, None)
    while pending:
        current, pending = pending, {}
        answers: dict[int, list[list[Completion]]] = {i: [[] for _ in reqs] for i, reqs in current.items()}
        groups: dict[str, list[tuple[int, int, LLMRequest]]] = {}
        for i, reqs in current.items():
            s = states[i]
            for j, req in enumerate(reqs):
                if s.replaying:
                    answers[i][j] = s.take_replayed(req)
                else:
                    groups.setdefault(clients.key_for(s.spec.agent, req.role), []).append((i, j, req))
        for key, items in groups.items():
            t0 = time.perf_counter()
            results = clients.get(key).generate([req for _, _, req in items])
            share = (time.perf_counter() - t0) / len(items)
            for (i, j, _), comps in zip(items, results):
                answers[i][j] = comps
                spent[i] += share
        for i, reqs in current.items():
            if not states[i].replaying:
                for req, comps in zip(reqs, answers[i]):
                    states[i].calls.extend(CallRow(req.role, req.digest(), c) for c in comps)
            advance(i, answers[i])
    return [decisions[i] for i in range(len(states))]


def _step_row(s: RunState, decision: Decision, reward: float, info: dict[str, Any]) -> StepRow:
    record = dict(decision.record)
    extra = {k: v for k, v in info.items() if k not in _INFO_COLUMNS and isinstance(v, (int, float, str, bool))}
    if extra:
        record["info"] = extra
    opt = info.get("optimal_expected_reward")
    exp = info.get("expected_reward")
    return StepRow(
        s.spec.run_id, s.t, to_jsonable(decision.action), float(reward),
        None if exp is None else float(exp), None if opt is None else float(opt),
        to_jsonable(info.get("optimal_action")), record,
    )


def _close(a: Any, b: Any) -> bool:
    """Same structure and numbers equal up to floating-point noise (relative 1e-6)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and bool(
            np.isclose(a, b, rtol=1e-6, atol=1e-12))
    return a == b


def _replayed_action(s: RunState, action: Any) -> Any:
    """The action to replay at step ``s.t``: the recomputed one when it equals the stored one; the stored one when
    they differ only by floating-point noise (a GP fit is not bitwise reproducible across thread schedules), so the
    resumed run continues from exactly what was committed; anything else is a :class:`ReplayMismatch`."""
    stored = s.replay_steps[s.t].action
    recomputed = to_jsonable(action)
    if dumps(stored) == dumps(recomputed):
        return action
    if _close(stored, recomputed):
        return stored
    raise ReplayMismatch(
        f"run {s.spec.run_id}: replaying step {s.t} gave action {recomputed!r}, the store holds {stored!r}; the "
        "run is not reproducible from its seed"
    )


def _check_replay(s: RunState, row: StepRow) -> None:
    stored = s.replay_steps[s.t]
    if dumps(stored.action) != dumps(row.action) or stored.reward != row.reward:
        raise ReplayMismatch(
            f"run {s.spec.run_id}: replaying step {s.t} gave action {row.action!r} / reward {row.reward}, the store "
            f"holds {stored.action!r} / {stored.reward}; the run is not reproducible from its seed"
        )


def _open_for(cfg: ExperimentConfig, env: gym.Env) -> RunStore:
    """The store of ``cfg.out``, checked against ``cfg`` and stamped with it: name, config (seeds: the union over
    every invocation, so seed-sharded runs of one experiment record them all) and the headline metric ``env`` (the
    experiment's env, built) declares."""
    store = RunStore(cfg.out)
    try:
        check_store(cfg, store)
        config = cfg.model_dump(mode="json")
        stored = store.get_meta("config")
        if stored is not None:
            config["seeds"] = sorted(set(stored.get("seeds", [])) | set(config["seeds"]))
        store.set_meta("name", cfg.name)
        store.set_meta("config", config)
        store.set_meta("metric", metric_for(cfg.env.id, env=env).name)
    except BaseException:
        store.close()
        raise
    return store


LOCK_FILE = ".expobench.lock"


def _writer_lock(out: Path) -> Any:
    """An advisory lock on ``out`` held while one process writes it (closing the returned file releases it): a
    second ``run`` into the same directory is refused at once instead of interleaving its steps."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK_FILE, "a+")  # noqa: SIM115 -- held open for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreBusy(f"another expobench run is writing to {out}; wait for it to finish or choose another "
                        "--out") from None
    return handle


def check_store(cfg: ExperimentConfig, store: RunStore) -> None:
    """Refuse to mix results of different configurations in one output directory: another env, horizon or
    evaluation budget than the experiment stored there (agents and seeds may be added), or a run whose
    configuration differs."""
    stored = store.get_meta("config")
    if stored is not None:
        want = cfg.model_dump(mode="json")
        diff = [k for k in ("env", "horizon", "evaluations") if stored.get(k) != want.get(k)]
        if diff:
            raise StoreMismatch(
                f"{store.out} already holds experiment {stored.get('name')!r} with a different configuration "
                f"(differs in: {', '.join(diff)}); one output directory holds one experiment: choose another --out "
                "or delete the directory")
    for spec in run_specs(cfg):
        row = store.get_run(spec.run_id)
        if row is not None and row["config"] != to_jsonable(run_config(cfg, spec)):
            want = run_config(cfg, spec)
            diff = sorted(k for k in want if to_jsonable(want[k]) != row["config"].get(k))
            raise StoreMismatch(
                f"{store.out} already holds run {spec.run_id} with a different configuration (differs in: "
                f"{', '.join(diff)}); choose another --out or delete the directory"
            )


def run_experiment(
    cfg: ExperimentConfig,
    *,
    use_cache: bool = True,
    progress: bool = True,
    on_step: Callable[[str, int], None] | None = None,
) -> RunStore:
    """Run (or resume) every run of ``cfg`` into ``cfg.out``; returns the open store.

    ``on_step(run_id, t)`` is called after each stored step (tests use it to inject interruptions); steps are
    committed in groups (see :mod:`expobench.experiments.store`) and always when this function returns or raises.
    """
    started = time.perf_counter()
    env = preflight(cfg)
    if cfg.executor.kind != "local":  # connected (and its resources checked) before anything is written
        from expobench.experiments.ray_executor import RayExecutor

        executor = RayExecutor.connect(cfg)
    lock = _writer_lock(Path(cfg.out))
    try:
        store = _open_for(cfg, env)
        specs = [s for s in run_specs(cfg) if (store.get_run(s.run_id) or {}).get("status") != "done"]
        clients = ClientPool(cfg, use_cache=use_cache)
        try:
            with progress_bar(len(specs) * cfg.horizon, f"{cfg.name}", enabled=progress) as advance:
                if cfg.executor.kind != "local":  # shards on workers; this process stays the one writer
                    executor.run(specs, store, advance, on_step, use_cache=use_cache)
                    specs = []
                for start in range(0, len(specs), cfg.batch_width):
                    batch = specs[start:start + cfg.batch_width]
                    states = [_start_run(cfg, spec, store, clients) for spec in batch]
                    _run_lockstep(states, store, clients, advance, on_step)
        finally:
            # the experiment's wall time, summed over resumed invocations (runs share it in lockstep; each run's
            # own share is in its row)
            store.set_meta("wall_s", float(store.get_meta("wall_s", 0.0)) + time.perf_counter() - started)
            store.flush()
            clients.close()
    finally:
        lock.close()  # releases the writer lock
    if cfg.tracking:
        from expobench.experiments.tracking import track

        track(cfg, store)
    return store


def _run_lockstep(states: list[RunState], store: RunStore, clients: ClientPool,
                  advance: Callable[[int], None], on_step: Callable[[str, int], None] | None) -> None:
    active = [s for s in states if s.t < s.horizon]
    while active:
        stored, still = lockstep_round(active, store, clients)
        advance(len(active))
        if on_step is not None:
            for run_id, t in stored:
                on_step(run_id, t)
        active = still


def lockstep_round(active: list[RunState], store: Any, clients: ClientPool
                   ) -> tuple[list[tuple[str, int]], list[RunState]]:
    """One lockstep step of every run in ``active`` (none finished): its rows appended to ``store`` and finished
    runs marked done there. Returns the (run id, t) stored (replayed steps are not) and the runs still active.
    ``store`` is a :class:`RunStore` or any object with its writing methods (a distributed worker passes one that
    records them for the driver, see :mod:`expobench.experiments.ray_executor`)."""
    groups, rest = _batch_groups(active)
    stored = [row for cls, members in groups for row in _step_batched(cls, members, store)]
    if rest:
        stored += _step_one_by_one(rest, store, clients)
    for s in active:
        if s.done:
            store.finish_run(s.spec.run_id)
    return stored, [s for s in active if not s.done]


def _step_one_by_one(active: list[RunState], store: RunStore, clients: ClientPool) -> list[tuple[str, int]]:
    """One step of every active run through the agent and env protocols; returns the (run id, t) stored."""
    for s in active:
        s.calls = []
    seconds = [0.0] * len(active)
    decisions = _drive(active, clients, seconds)
    rows: list[tuple[StepRow, list[CallRow], MetaPrompt | None, float]] = []
    updates: list[tuple[Any, float | None, int, float]] = []  # the optimisers' updates, made together below
    for k, (s, decision) in enumerate(zip(active, decisions)):
        t0 = time.perf_counter()
        if s.replaying:
            decision.action = _replayed_action(s, decision.action)
        obs, reward, terminated, truncated, info = s.env.step(decision.action)
        row = _step_row(s, decision, reward, info)
        if s.t == 0:
            initial = s.agent.initial_evaluations()
            if initial:  # the warm start, stored with the first step and marked initial (METHODS §4.4)
                row.record["initial"] = [{"action": to_jsonable(a), "expected_reward": float(r)}
                                         for a, r in initial]
        if s.replaying:
            _check_replay(s, row)
        s.agent.observe(decision.action, float(reward), info)
        if s.optimizer is not None:
            updates.append((s.optimizer, s.agent.optimizer_score(decision.record, info), s.t, float(reward)))
        if not s.replaying:
            rows.append((row, s.calls, decision.meta_prompt, seconds[k] + time.perf_counter() - t0))
        s.obs = obs
        s.t += 1
        s.evaluations += evaluation_count(decision.record)
        s.done = s.t >= s.horizon or bool(terminated) or (s.budget is not None and s.evaluations >= s.budget)
    t0 = time.perf_counter()
    update_optimizers(updates)  # EXPO's score networks of all these runs fitted as one batch
    share = (time.perf_counter() - t0) / max(1, len(rows))  # the stored runs share the update's time
    store.append_steps([(row, calls, wall + share, mp) for row, calls, mp, wall in rows])
    return [(row.run_id, row.t) for row, *_ in rows]


#: The batched path for classical bandit agents (tests turn it off to compare with the one-by-one path).
BATCHED = True


def _batch_groups(active: list[RunState]) -> tuple[list[tuple[type[Agent], list[RunState]]], list[RunState]]:
    """Split the active runs into groups that take the batched path (one classical bandit agent kind with
    ``act_batch`` on one bandit env class with ``step_batch``, no extra wrappers, each env stepped once through its
    wrappers already so Gymnasium's checker sees the first step, not replaying) and the rest."""
    if not BATCHED:
        return [], active
    groups: dict[tuple[type, type], list[RunState]] = {}
    rest = []
    for s in active:
        if s.batch_key is not None and s.t > 0 and not s.replaying:
            groups.setdefault(s.batch_key, []).append(s)
        else:
            rest.append(s)
    return [(cls, members) for (cls, _), members in groups.items()], rest


def _step_batched(cls: Any, active: list[RunState], store: RunStore) -> list[tuple[str, int]]:
    """One step of every active run as array operations across runs: the same actions, rewards and stored rows
    as :func:`_step_one_by_one` (tests compare the two), at a fraction of the cost per decision."""
    t0 = time.perf_counter()
    agents = [s.agent for s in active]
    actions = cls.act_batch(agents)
    results = type(active[0].core).step_batch([s.core for s in active], actions)
    cls.observe_batch(agents, actions, [r[0] for r in results])
    steps = [(s.spec.run_id, s.t, action, *result) for s, action, result in zip(active, actions, results)]
    for s in active:
        s.t += 1
        s.done = s.t >= s.horizon
    store.append_plain_steps(steps, (time.perf_counter() - t0) / len(active))
    return [(run_id, t) for run_id, t, *_ in steps]
