"""The cost of an experiment or a sweep before any work (``expobench plan CONFIG|SWEEP``), without loading a model.

Per experiment: runs (agents × seeds), LLM requests, prompt and generated tokens, EXPO score-network fits, and the
wall time they take at a given throughput over a number of workers.

How the figures are estimated:

- Each LLM agent is built exactly as in a run (seed of the experiment's first seed) and driven for ``probe_steps``
  decisions with the scripted backend (``first_choice``: no model); every request it makes is rendered, so its
  prompt length is the real one. Prompt tokens are the rendered characters / ``CHARS_PER_TOKEN``; generated tokens
  are each request's ``max_tokens`` (an upper bound: constrained answers stop earlier). Step 0 (no history) counts
  as probed; the prompt length at steps 1.. is extrapolated linearly from the later probed steps (histories grow,
  summaries do not), summed over the horizon. Scripted answers are the first allowed choice, or empty text where
  the answer is free-form (tours, parameter vectors): there the history the probe sees stays short, and the
  prompt tokens are a lower bound.
- Every run takes ``horizon`` steps; with an ``evaluations`` budget, a run of an agent that evaluates
  ``n_proposals`` solutions per step (LLM optimisers) takes ``ceil(evaluations / n_proposals)`` steps, a baseline
  ``evaluations`` (at most ``horizon``; invalid proposals, which add steps, are not counted).
- A run's requests per step are those of the probe's steps (retries of invalid answers are not counted).
- A generated candidate pool (``pool: {n_desc, n_instr}``) costs one request per candidate per agent (pools are
  cached on disk and shared by seeds).
- Optimisers that retrain a score network every step (``FIT_KINDS``) make one fit per step per run, each taking
  ``fit_s`` seconds (default: docs/benchmarks.md's measured 101 × 101, t = 300 retrain on this machine's CPU).
- Optimisers that ask the LLM themselves (GPO, OPRO) are counted by the probe only where they ask on its steps;
  their cost is a lower bound.
- Wall time = (prompt tokens / prompt throughput + generated tokens / generation throughput + fits × fit_s) /
  workers: the work divides over workers (each with its own engine) when there are at least as many runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from expobench.experiments.config import AgentConfig, ExperimentConfig

#: Characters per token of an English prompt (the usual rule of thumb for BPE tokenisers).
CHARS_PER_TOKEN = 4.0
#: Generated tokens per second measured on this project's 2-core machine (SmolLM2-135M, llama.cpp, 2 threads;
#: docs/benchmarks.md, the llama.cpp build table).
MEASURED_GEN_TOKENS_PER_S = 113.5
#: Prompt tokens per second measured on the same machine and table.
MEASURED_PROMPT_TOKENS_PER_S = 259.1
#: Seconds per score-network retrain at 101 × 101 arms, hidden 3072, 50 Adam steps, 300 rows (docs/benchmarks.md).
MEASURED_FIT_S = 1.748
#: Optimiser kinds that retrain a score network after every step.
FIT_KINDS = ("expo", "expo_es", "neural_ucb")


@dataclass
class AgentCost:
    """One agent over all its runs (seeds)."""

    agent: str
    runs: int
    steps: int = 0
    requests: int = 0
    prompt_tokens: float = 0.0
    generated_tokens: float = 0.0
    fits: int = 0
    note: str = ""


@dataclass
class Plan:
    """One experiment's cost; ``wall_s`` for ``workers`` workers at the given throughputs."""

    name: str
    runs: int
    steps: int
    agents: list[AgentCost] = field(default_factory=list)
    requests: int = 0
    prompt_tokens: float = 0.0
    generated_tokens: float = 0.0
    fits: int = 0
    llm_s: float = 0.0
    fit_s: float = 0.0
    workers: int = 1
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _probe(cfg: ExperimentConfig, agent_cfg: AgentConfig, steps: int) -> list[list[tuple[int, int, int]]]:
    """Per probed step, the agent's requests as ``(prompt characters, max_tokens, n)``: the agent built as in a run
    and answered by the scripted backend (no model)."""
    from expobench.agents.llm.client import LLMClient
    from expobench.agents.llm.scripted import ScriptedBackend
    from expobench.experiments.runner import prepared_agent

    env, obs, agent = prepared_agent(cfg, agent_cfg, cfg.seeds[0])
    client = LLMClient(ScriptedBackend("first_choice"))
    out: list[list[tuple[int, int, int]]] = []
    for _ in range(min(steps, cfg.horizon)):
        gen = agent.decide(obs)
        batches: list[list[tuple[int, int, int]]] = []
        answer = None
        try:
            while True:
                reqs = gen.send(answer)
                batches.append([(sum(len(m.content) for m in r.messages), r.max_tokens, r.n) for r in reqs])
                answer = client.generate(list(reqs))
        except StopIteration as stop:
            decision = stop.value
        if decision.record.get("invalid") or decision.record.get("fallback"):
            batches = batches[:1]  # the scripted answer was not valid: a model's would be, without retries
        out.append([r for batch in batches for r in batch])
        obs, reward, terminated, truncated, info = env.step(decision.action)
        agent.observe(decision.action, float(reward), info)
        if terminated:
            break
    return out


def _sum_linear(first: float, slope: float, n: int) -> float:
    """Σ_{t<n} max(first + slope·t, 0)."""
    if slope >= 0 or first + slope * (n - 1) >= 0:
        return n * first + slope * n * (n - 1) / 2
    m = int(first / -slope) + 1  # terms before the line crosses zero
    return m * first + slope * m * (m - 1) / 2


def run_steps(cfg: ExperimentConfig, agent_cfg: AgentConfig) -> int:
    """Steps of one run of ``agent_cfg``: ``horizon``, or what its ``evaluations`` budget leaves of it."""
    if cfg.evaluations is None:
        return cfg.horizon
    from expobench.experiments.runner import make_agent_cls

    params = make_agent_cls(agent_cfg.kind).Params(**agent_cfg.params)
    per_step = int(getattr(params, "n_proposals", 1))
    return min(cfg.horizon, math.ceil(cfg.evaluations / per_step))


def agent_cost(cfg: ExperimentConfig, agent_cfg: AgentConfig, probe_steps: int = 4) -> AgentCost:
    """The cost of one agent's runs (see the module docstring)."""
    from expobench.experiments.runner import make_agent_cls

    runs = len(cfg.seeds)
    steps = run_steps(cfg, agent_cfg)
    cost = AgentCost(agent_cfg.name, runs, runs * steps)
    opt = agent_cfg.optimizer
    if opt is not None and opt.kind in FIT_KINDS:
        cost.fits = runs * steps
    if not getattr(make_agent_cls(agent_cfg.kind), "uses_llm", False):
        return cost
    probed = _probe(cfg, agent_cfg, probe_steps)
    per_step = [sum(n for _, _, n in s) for s in probed]
    chars = [sum(c * n for c, _, n in s) for s in probed]
    gen = [sum(m * n for _, m, n in s) for s in probed]
    k = len(probed)
    # step 0 has no history yet: it counts as probed, and steps 1.. follow the line through the later probes
    later = chars[1:] or chars
    slope = (later[-1] - later[0]) / (len(later) - 1) if len(later) > 1 else 0.0
    total_chars = chars[0] + (_sum_linear(later[0], slope, steps - 1) if steps > 1 else 0.0)
    cost.requests = runs * round(sum(per_step) / k * steps)
    cost.prompt_tokens = runs * total_chars / CHARS_PER_TOKEN
    cost.generated_tokens = runs * sum(gen) / k * steps
    pool = (opt.pool or {}) if opt is not None else {}
    if "n_desc" in pool or "n_instr" in pool:
        n_pool = int(pool.get("n_desc", 0)) + int(pool.get("n_instr", 0))
        cost.requests += n_pool
        cost.generated_tokens += n_pool * 256
        cost.note = f"pool of {pool.get('n_desc', 0)} x {pool.get('n_instr', 0)} generated (counted per agent)"
    if opt is not None and opt.kind not in FIT_KINDS + ("fixed",):
        cost.note = (cost.note + "; " if cost.note else "") + f"{opt.kind}'s own LLM requests: a lower bound"
    return cost


def plan(cfg: ExperimentConfig, *, tokens_per_s: float = MEASURED_GEN_TOKENS_PER_S,
         prompt_tokens_per_s: float = MEASURED_PROMPT_TOKENS_PER_S, fit_s: float = MEASURED_FIT_S,
         workers: int | None = None, probe_steps: int = 4) -> Plan:
    """The cost of ``cfg`` (nothing is run or loaded; see the module docstring). ``workers``: default the
    config's Ray workers, 1 for the local executor."""
    if workers is None:
        workers = cfg.executor.workers if cfg.executor.kind != "local" else 1
    p = Plan(cfg.name, len(cfg.agents) * len(cfg.seeds), 0)
    for agent_cfg in cfg.agents:
        c = agent_cost(cfg, agent_cfg, probe_steps)
        p.agents.append(c)
        p.steps += c.steps
        p.requests += c.requests
        p.prompt_tokens += c.prompt_tokens
        p.generated_tokens += c.generated_tokens
        p.fits += c.fits
    p.llm_s = p.prompt_tokens / prompt_tokens_per_s + p.generated_tokens / tokens_per_s
    p.fit_s = p.fits * fit_s
    p.workers = max(1, min(workers, p.runs))
    p.wall_s = (p.llm_s + p.fit_s) / p.workers
    return p


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def duration(seconds: float) -> str:
    """Seconds as s / min / h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def table(plans: list[Plan], tokens_per_s: float, prompt_tokens_per_s: float, fit_s: float) -> str:
    """The plans as a plain-text table with a total line and the assumptions."""
    head = f"{'experiment':<36} {'runs':>5} {'requests':>9} {'prompt tok':>10} {'gen tok':>9} {'fits':>7} " \
           f"{'workers':>7} {'wall':>9}"
    lines = [head, "-" * len(head)]
    for p in plans:
        lines.append(f"{p.name[:36]:<36} {p.runs:>5} {human(p.requests):>9} {human(p.prompt_tokens):>10} "
                     f"{human(p.generated_tokens):>9} {human(p.fits):>7} {p.workers:>7} {duration(p.wall_s):>9}")
        notes: dict[str, list[str]] = {}
        for c in p.agents:
            for note in filter(None, c.note.split("; ")):
                notes.setdefault(note.replace(f"{c.agent}'s", "its"), []).append(c.agent)
        for note, agents in notes.items():
            lines.append(f"  {', '.join(agents)}: {note}")
    if len(plans) > 1:
        tot = [sum(getattr(p, k) for p in plans) for k in ("runs", "requests", "prompt_tokens", "generated_tokens",
                                                             "fits", "wall_s")]
        lines.append(f"{'total':<36} {tot[0]:>5} {human(tot[1]):>9} {human(tot[2]):>10} {human(tot[3]):>9} "
                     f"{human(tot[4]):>7} {'':>7} {duration(tot[5]):>9}")
    lines.append(f"at {prompt_tokens_per_s:g} prompt tok/s and {tokens_per_s:g} generated tok/s per worker, "
                 f"{fit_s:g} s per score-network fit; prompt tokens = characters / {CHARS_PER_TOKEN:g}, generated "
                 "tokens = max_tokens (upper bound)")
    return "\n".join(lines)


def gpu_hours(p: Plan) -> float:
    """Worker-hours of a plan (wall time × workers): GPU-hours when each worker holds one GPU."""
    return p.wall_s * p.workers / 3600 if math.isfinite(p.wall_s) else math.inf
