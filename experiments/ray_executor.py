"""Ray execution of an experiment: the runs split into shards, each run by a Ray actor; this process (the driver)
stays the one writer of the run store and of the response cache.

What runs where:

- The driver connects to a Ray cluster (``executor.address``; a local Ray instance when none), checks that the
  cluster has room for ``executor.workers`` actors of ``executor.resources_per_worker`` (a clear error otherwise,
  never a hang), opens the store and the cache, and assigns the runs still to do round-robin to the workers.
- Each worker (:class:`ShardWorker`, a Ray actor) owns its LLM clients (a llama.cpp or vLLM engine loads once per
  actor) and advances its runs in lockstep exactly as the local runner does (``runner.lockstep_round``), up to
  ``batch_width`` at a time. It writes nothing: its "store" is a :class:`Recorder` that keeps the writes (runs
  created, steps with their LLM calls, runs finished) as operations, and its cache keeps new answers in an outbox.
  Each ``advance`` call returns them (a :class:`Chunk`, about ``CHUNK_S`` seconds of work), and the driver applies
  them to the store and the cache in order, then calls again: results stream back while the runs go on.
- Resume is the runner's: a run with committed steps is sent to a worker with those steps and their LLM
  completions, replayed there (checked against the store), then continued live, on any worker.

Faults: a worker that dies (actor killed, its node lost) raises ``RayActorError`` on its pending call. Its
unfinished runs are handed to a fresh actor with the steps the driver holds for them (every step that reached the
driver is kept; only the dead worker's steps in flight are lost and recomputed), at most
``executor.max_restarts`` times per experiment; then the experiment stops with the committed steps kept. An error
inside a worker (a replay mismatch, an LLM error) is raised in the driver as itself.

Results equal the local executor's: a run's seeds, requests and cache keys depend on the run alone, never on its
worker or its batch companions (tests compare the stores).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expobench.experiments.config import ExperimentConfig
from expobench.experiments.errors import ConfigError

#: Seconds of work a worker does per ``advance`` call before it returns what it recorded.
CHUNK_S = 0.2
#: Environment variables a worker inherits from the driver (a remote cluster gets them through the runtime env).
_FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "EXPOBENCH_TRUST_IMPORTS")
#: resources_per_worker keys that are Ray actor options; any other key is a custom resource.
_OPTION_KEYS = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


class WorkerLost(RuntimeError):
    """Workers died more often than ``executor.max_restarts`` allows; committed steps are kept."""


@dataclass
class RunPayload:
    """What a worker needs to start or resume one run: its spec and, when the store holds it, its row, its
    committed steps and their LLM completions (replayed, not recomputed)."""

    spec: Any  # runner.RunSpec
    row: dict[str, Any] | None = None
    steps: list[Any] = field(default_factory=list)
    calls: dict[int, list[Any]] = field(default_factory=dict)


@dataclass
class Chunk:
    """A worker's writes since its previous call, in order: ``ops`` (see :class:`Recorder`), new cache entries
    ``(key, completion)``, and the runs it still has (unfinished)."""

    ops: list[tuple[Any, ...]]
    cache: list[tuple[str, Any]]
    left: int


class Recorder:
    """The run store as a worker sees it: reads answered from what the driver sent, writes kept as operations
    ``("meta", key, value)``, ``("create", args)``, ``("steps", rows)``, ``("plain", steps, wall)``,
    ``("finish", run_id)`` for the driver to apply (:func:`apply_ops`)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = dict(meta)
        self.runs: dict[str, RunPayload] = {}
        self.ops: list[tuple[Any, ...]] = []

    def add(self, payload: RunPayload) -> None:
        self.runs[payload.spec.run_id] = payload

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.runs[run_id].row

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default)

    def set_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value
        self.ops.append(("meta", key, value))

    def create_run(self, *args: Any) -> None:
        self.runs[args[0]].row = {"run_id": args[0], "status": "running"}
        self.ops.append(("create", args))

    def steps(self, run_id: str) -> list[Any]:
        return self.runs[run_id].steps

    def calls(self, run_id: str) -> dict[int, list[Any]]:
        return self.runs[run_id].calls

    def append_steps(self, rows: Any) -> None:
        self.ops.append(("steps", list(rows)))

    def append_plain_steps(self, steps: list[tuple], wall: float) -> None:
        self.ops.append(("plain", list(steps), wall))

    def finish_run(self, run_id: str) -> None:
        self.runs.pop(run_id, None)
        self.ops.append(("finish", run_id))

    def drain(self) -> list[tuple[Any, ...]]:
        ops, self.ops = self.ops, []
        return ops


class OutboxCache:
    """The response cache inside a worker: lookups in the answers it made itself and, when the driver's cache file
    is readable from this node, in that file (read-only); new answers go to an outbox the driver writes."""

    def __init__(self, path: str | None) -> None:
        self.entries: dict[str, Any] = {}
        self.outbox: list[tuple[str, Any]] = []
        self.hits = self.misses = 0
        self.db: Any = None
        if path and os.path.exists(path):
            import sqlite3
            from pathlib import Path

            try:
                self.db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0,
                                          check_same_thread=False)
                self.db.execute("SELECT 1 FROM responses LIMIT 1")
            except sqlite3.Error:
                self.db = None

    def get(self, key: str) -> Any:
        import dataclasses
        import json
        import sqlite3

        from expobench.agents.llm.types import Completion

        hit = self.entries.get(key)
        if hit is None and self.db is not None:
            try:
                row = self.db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error:
                row = None
            hit = Completion(**json.loads(row[0])) if row else None
        if hit is None:
            self.misses += 1
            return None
        self.hits += 1
        return dataclasses.replace(hit, cached=True)

    def put(self, key: str, completion: Any) -> None:
        if key not in self.entries:
            self.entries[key] = completion
            self.outbox.append((key, completion))

    def drain(self) -> list[tuple[str, Any]]:
        out, self.outbox = self.outbox, []
        return out

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class ShardWorker:
    """The body of a Ray actor: holds its runs (at most ``batch_width`` active) and its LLM clients."""

    def __init__(self, cfg: ExperimentConfig, use_cache: bool, cache_path: str | None, meta: dict[str, Any],
                 threads: int | None) -> None:
        if threads:  # the engine's threads: what the actor reserved, not every core of the node
            os.environ.setdefault("EXPOBENCH_LLM_THREADS", str(threads))
        if cfg.imports:
            from pathlib import Path

            from expobench.experiments.config import import_modules

            import_modules(cfg.imports, [Path.cwd()])
        from expobench.experiments.llm_clients import ClientPool

        self.cfg = cfg
        self.clients = ClientPool(cfg, use_cache=use_cache)
        self.cache = OutboxCache(cache_path) if self.clients.use_cache else None
        self.clients._cache = self.cache  # the pool's cache: looked up here, written by the driver
        self.recorder = Recorder(meta)
        self.pending: list[RunPayload] = []
        self.active: list[Any] = []

    def ready(self) -> int:
        return os.getpid()

    def advance(self, payloads: list[RunPayload] | None = None, budget_s: float = CHUNK_S) -> Chunk:
        """Take ``payloads`` (runs to start or resume), then advance the runs in lockstep rounds for about
        ``budget_s`` seconds (at least one round); return what was written meanwhile."""
        from expobench.experiments.runner import _start_run, lockstep_round

        self.pending.extend(payloads or [])
        start = time.perf_counter()
        while True:
            while self.pending and len(self.active) < self.cfg.batch_width:
                payload = self.pending.pop(0)
                self.recorder.add(payload)
                self.active.append(_start_run(self.cfg, payload.spec, self.recorder, self.clients))
            if not self.active:
                break
            _, self.active = lockstep_round(self.active, self.recorder, self.clients)
            if time.perf_counter() - start >= budget_s:
                break
        return Chunk(self.recorder.drain(), self.cache.drain() if self.cache is not None else [],
                     len(self.active) + len(self.pending))

    def close(self) -> None:
        self.clients.close()


def apply_ops(store: Any, ops: list[tuple[Any, ...]]) -> list[tuple[str, int]]:
    """Apply a worker's operations to the run store, in order; returns the (run id, t) of the steps stored."""
    stored: list[tuple[str, int]] = []
    for op in ops:
        kind = op[0]
        if kind == "steps":
            store.append_steps(op[1])
            stored += [(row.run_id, row.t) for row, *_ in op[1]]
        elif kind == "plain":
            store.append_plain_steps(op[1], op[2])
            stored += [(run_id, t) for run_id, t, *_ in op[1]]
        elif kind == "finish":
            store.finish_run(op[1])
        elif kind == "create":
            if store.get_run(op[1][0]) is None:
                store.create_run(*op[1])
        elif kind == "meta":
            if store.get_meta(op[1]) is None:
                store.set_meta(op[1], op[2])
        else:  # pragma: no cover -- a worker of another version
            raise ValueError(f"unknown worker operation {kind!r}")
    return stored


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A :class:`ConfigError` naming ``executor.address`` unless a TCP connection to ``[ray://]HOST:PORT`` opens
    within ``timeout_s`` (Ray itself keeps retrying an unreachable address for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host:
        host, port = port, "10001"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as e:
        raise ConfigError(f"executor.address: cannot reach a Ray cluster at {address}: {e}") from None


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor: kind 'ray' needs the ray package: pip install -e '.[ray]'") from None
    return ray


def actor_options(resources: dict[str, float]) -> dict[str, Any]:
    """Ray actor options for ``resources_per_worker``: num_cpus/num_gpus/memory as options, other keys as custom
    resources."""
    opts: dict[str, Any] = {k: v for k, v in resources.items() if k in _OPTION_KEYS}
    custom = {k: v for k, v in resources.items() if k not in _OPTION_KEYS}
    if custom:
        opts["resources"] = custom
    opts.setdefault("num_cpus", 0 if "num_gpus" in resources else 1)
    return opts


def room_for(nodes: list[dict[str, Any]], resources: dict[str, float]) -> int:
    """How many workers of ``resources`` fit on the alive ``nodes`` of a cluster (``ray.nodes()`` rows)."""
    want = {_OPTION_KEYS.get(k, k): v for k, v in actor_options(resources).items() if k != "resources"}
    want.update(actor_options(resources).get("resources", {}))
    total = 0
    for node in nodes:
        if not node.get("Alive", True):
            continue
        have = node.get("Resources", {})
        fits = [math.floor(have.get(k, 0.0) / v + 1e-9) for k, v in want.items() if v > 0]
        total += min(fits) if fits else 1024
    return total


class RayExecutor:
    """Runs an experiment's runs on Ray actors; see the module docstring. Build with :meth:`connect`."""

    def __init__(self, cfg: ExperimentConfig, ray: Any) -> None:
        self.cfg = cfg
        self.ray = ray
        self.restarts = 0
        self._spawned = 0

    @classmethod
    def connect(cls, cfg: ExperimentConfig) -> RayExecutor:
        """Join (or start) the Ray cluster and check it has room for the workers: a :class:`ConfigError` naming the
        field otherwise, before any work."""
        ray = _ray()
        ex = cfg.executor
        if not ray.is_initialized():
            address = None if ex.address in (None, "local") else ex.address
            if address is not None and address != "auto":
                check_reachable(address)
            env = {k: v for k, v in os.environ.items() if k in _FORWARDED_ENV or k.startswith("EXPOBENCH_")}
            try:
                ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                         configure_logging=False, runtime_env={"env_vars": env} if address else None)
            except Exception as e:  # noqa: BLE001 -- Ray raises ConnectionError, ValueError, RuntimeError, ...
                where = address or "a new local instance"
                first = (str(e).splitlines() or [""])[0][:200]
                raise ConfigError(f"executor.address: cannot reach a Ray cluster at {where}: {type(e).__name__}: "
                                  f"{first}") from None
        room = room_for(ray.nodes(), ex.resources_per_worker)
        if room < 1:
            raise ConfigError(f"executor.resources_per_worker: no node of the Ray cluster has "
                              f"{ex.resources_per_worker} (cluster: {ray.cluster_resources()})")
        if room < ex.workers:
            raise ConfigError(f"executor.workers: the Ray cluster has room for {room} worker(s) of "
                              f"{ex.resources_per_worker}, not {ex.workers}; lower executor.workers or "
                              "executor.resources_per_worker")
        return cls(cfg, ray)

    def actor_name(self, index: int) -> str:
        """Name of worker ``index`` (replacements get the next indices): ``expobench.NAME.PID.wINDEX``."""
        return f"expobench.{self.cfg.name}.{os.getpid()}.w{index}"

    def _spawn(self, use_cache: bool, meta: dict[str, Any]) -> Any:
        ex = self.cfg.executor
        opts = actor_options(ex.resources_per_worker)
        threads = max(1, int(opts["num_cpus"])) if opts.get("num_cpus") else None
        cache_path = str(self.cfg.cache_path().resolve()) if use_cache else None
        actor_cls = self.ray.remote(ShardWorker)
        name = self.actor_name(self._spawned)
        self._spawned += 1
        return actor_cls.options(name=name, max_restarts=0, **opts).remote(self.cfg, use_cache, cache_path, meta,
                                                                          threads)

    def _wait_ready(self, actors: list[Any]) -> None:
        refs = [a.ready.remote() for a in actors]
        done, _ = self.ray.wait(refs, num_returns=len(refs), timeout=self.cfg.executor.start_timeout_s)
        if len(done) < len(refs):
            for a in actors:
                self.ray.kill(a)
            raise ConfigError(
                f"executor: {len(refs) - len(done)} of {len(refs)} Ray workers did not start within "
                f"{self.cfg.executor.start_timeout_s:g} s (executor.start_timeout_s); the cluster may lack "
                f"{self.cfg.executor.resources_per_worker} per worker (cluster: {self.ray.cluster_resources()})")
        self.ray.get(done)

    def run(self, specs: list[Any], store: Any, advance: Callable[[int], None],
            on_step: Callable[[str, int], None] | None, use_cache: bool = True) -> None:
        """Run ``specs`` (unfinished runs) on the workers, applying their writes to ``store`` as they arrive."""
        if not specs:
            return
        ray = self.ray
        from ray.exceptions import ObjectLostError, RayActorError, RayTaskError

        lost_worker = (RayActorError, ObjectLostError)  # the actor died, or its node with the chunk it returned

        cache = None
        use_cache = use_cache and self.cfg.cache.enabled
        if use_cache:
            from expobench.agents.llm.cache import ResponseCache

            cache = ResponseCache(self.cfg.cache_path())
        meta = {"n_actions": store.get_meta("n_actions")}
        n = min(self.cfg.executor.workers, len(specs))
        shards = [specs[i::n] for i in range(n)]
        actors = [self._spawn(use_cache, meta) for _ in shards]
        owned: dict[Any, set[str]] = {}  # actor -> its unfinished run ids
        inflight: dict[Any, Any] = {}  # ref -> actor
        try:
            self._wait_ready(actors)
            for actor, shard in zip(actors, shards):
                owned[actor] = {s.run_id for s in shard}
                inflight[actor.advance.remote([self._payload(s, store) for s in shard])] = actor
            by_id = {s.run_id: s for s in specs}
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1)
                ref = ready[0]
                actor = inflight.pop(ref)
                try:
                    chunk = ray.get(ref)
                except lost_worker:
                    lost = sorted(owned.pop(actor))
                    try:
                        ray.kill(actor)  # if it is only unreachable, it must not go on with runs given away
                    except Exception:  # noqa: BLE001, S110 -- already gone
                        pass
                    self.restarts += 1
                    if self.restarts > self.cfg.executor.max_restarts:
                        raise WorkerLost(
                            f"a Ray worker died ({self.restarts} faults, executor.max_restarts is "
                            f"{self.cfg.executor.max_restarts}); committed steps are kept: run the same command "
                            "again to resume") from None
                    if lost:
                        store.flush()
                        meta = {"n_actions": store.get_meta("n_actions")}
                        fresh = self._spawn(use_cache, meta)
                        self._wait_ready([fresh])
                        owned[fresh] = set(lost)
                        inflight[fresh.advance.remote([self._payload(by_id[r], store) for r in lost])] = fresh
                    continue
                except RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, BaseException) else e) from None
                stored = apply_ops(store, chunk.ops)
                for op in chunk.ops:
                    if op[0] == "finish":
                        owned[actor].discard(op[1])
                if cache is not None:
                    for key, completion in chunk.cache:
                        cache.put(key, completion)
                if stored:
                    advance(len(stored))
                if on_step is not None:
                    for run_id, t in stored:
                        on_step(run_id, t)
                if chunk.left:
                    inflight[actor.advance.remote()] = actor
                else:
                    owned.pop(actor, None)
                    ray.kill(actor)
        finally:
            for actor in list(owned) + list(inflight.values()):
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001, S110 -- already gone
                    pass
            if cache is not None:
                cache.close()

    @staticmethod
    def _payload(spec: Any, store: Any) -> RunPayload:
        row = store.get_run(spec.run_id)
        if row is None:
            return RunPayload(spec)
        return RunPayload(spec, {"run_id": spec.run_id, "status": row["status"]}, store.steps(spec.run_id),
                          store.calls(spec.run_id))
