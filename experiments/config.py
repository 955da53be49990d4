"""Typed experiment configuration (YAML → pydantic). Every field is documented; ``expobench run --print-config``
shows the resolved config with all defaults.

Errors are raised as :class:`~expobench.experiments.errors.ConfigError` with one line per problem, each naming the field
path, the bad value and what is allowed -- before any work starts.
"""

from __future__ import annotations

import math
import re
import reprlib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from expobench.agents.llm.config import LLMConfig
from expobench.experiments.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Bounds on a config document, checked before anything is validated: bytes in the file, values once YAML aliases
#: are expanded, nesting depth; and the number of seeds (one run per seed and agent).
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 64
MAX_SEEDS = 10_000
#: Longest echo of a bad value in an error message.
MAX_ECHO = 80


def _short(value: Any, limit: int = MAX_ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters, without building the repr of a large value."""
    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxtuple, r.maxset = 3, 6, 6, 6, 6
    r.maxstring, r.maxlong, r.maxother = limit, limit, limit
    text = r.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cut(text: str, limit: int = 2 * MAX_ECHO) -> str:
    """A field path (which may hold long keys or deep nesting) cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _numeric(tp: Any) -> bool:
    """Whether a field annotation wants a number (int or float) and not a bool."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        return bool not in args and any(_numeric(a) for a in args)
    if origin is Annotated:
        return _numeric(typing.get_args(tp)[0])
    return tp in (int, float)


def _numeric_items(tp: Any) -> bool:
    """Whether a field annotation is a list/tuple/set of numbers."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_numeric_items(a) for a in typing.get_args(tp))
    return origin in (list, tuple, set, frozenset) and any(_numeric(a) for a in typing.get_args(tp))


def _no_bool_numbers(model: type[BaseModel], data: Any) -> None:
    """Refuse ``true``/``false`` given for a number field of ``model`` (pydantic would read them as 1/0): the
    parameter models of agent and optimiser kinds and the LLM settings are checked on their raw input."""
    if not isinstance(data, dict):
        return
    for name, field in model.model_fields.items():
        keys = [k for k in (name, field.alias) if k and k in data]
        for key in keys:
            v = data[key]
            if isinstance(v, bool) and _numeric(field.annotation):
                raise ValueError(f"{key}: expected a number, not a boolean (got {v!r})")
            if isinstance(v, (list, tuple)) and _numeric_items(field.annotation) and any(
                    isinstance(x, bool) for x in v):
                raise ValueError(f"{key}: expected numbers, not booleans (got {_short(v)})")


def _llm_input(v: Any) -> Any:
    _no_bool_numbers(LLMConfig, v)
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class EnvConfig(_Strict):
    id: str = Field(description="A registered Gymnasium id, e.g. expobench/MAB-hard-v0 (see `expobench envs`).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")

    @field_validator("id")
    @classmethod
    def _known_id(cls, v: str) -> str:
        import gymnasium as gym

        from expobench.envs import registered_ids

        if v not in gym.registry:  # the suite's ids, or any a user registered before loading the config
            raise ValueError(f"unknown env id; allowed: {', '.join(registered_ids())} or an id registered with "
                             "gymnasium.register")
        from expobench.experiments.metrics import METRIC_KEY, METRICS, declared_metric

        if declared_metric(v) not in METRICS:
            raise ValueError(f"env id {v!r} declares no headline metric: its env class needs metadata["
                             f"{METRIC_KEY!r}] set to one of {', '.join(METRICS)} (docs/extending.md)")
        return v


class OptimizerConfig(_Strict):
    kind: str = Field("fixed", description="Meta-prompt optimiser: fixed, expo, expo_es, gpo, random, opro, ...")
    params: dict[str, Any] = Field(default_factory=dict, description="The optimiser's parameters.")
    pool: dict[str, Any] = Field(
        default_factory=dict,
        description="Candidate pool: {path: a pool JSON} or generation settings {n_desc, n_instr, temperature}.",
    )
    llm: LLMConfig | None = Field(None, description="The optimiser's own LLM (default: the agent's LLM).")

    _llm_input = field_validator("llm", mode="before")(_llm_input)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from expobench.metaopt.registry import OPTIMIZERS

        if v not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer kind; allowed: {', '.join(sorted(OPTIMIZERS))}")
        return v

    @model_validator(mode="after")
    def _valid_params(self) -> OptimizerConfig:
        from expobench.metaopt.registry import OPTIMIZERS

        _check_params(OPTIMIZERS[self.kind].Params, self.params)
        return self


def _check_params(model: type[BaseModel], params: dict[str, Any]) -> None:
    try:
        _no_bool_numbers(model, params)
    except ValueError as e:
        raise ValueError(f"params.{e}") from None
    try:
        model(**params)
    except ValidationError as e:
        raise ValueError("; ".join(_describe(err, prefix="params") for err in e.errors())) from None


class AgentConfig(_Strict):
    name: str = Field(description="Unique name of this agent in the experiment; used in run names.")
    kind: str = Field(description="Agent kind (see `expobench agents`), e.g. ucb, thompson, llm_bandit.")
    params: dict[str, Any] = Field(default_factory=dict, description="The agent kind's parameters.")
    llm: LLMConfig | None = Field(None, description="LLM settings for this agent (default: the experiment's `llm`).")
    optimizer: OptimizerConfig | None = Field(
        None, description="Meta-prompt optimiser for LLM agents (default: fixed meta-prompt)."
    )

    _llm_input = field_validator("llm", mode="before")(_llm_input)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("names use letters, digits, '_', '.', '-' and start with a letter or digit")
        return v

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from expobench.agents.registry import agent_kinds

        kinds = agent_kinds()
        if v not in kinds:
            raise ValueError(f"unknown agent kind; allowed: {', '.join(kinds)}")
        return v

    @model_validator(mode="after")
    def _valid_params(self) -> AgentConfig:
        from expobench.agents.registry import AGENTS

        cls = AGENTS[self.kind]
        _check_params(cls.Params, self.params)
        if self.optimizer is not None and not cls.uses_llm:
            raise ValueError(f"optimizer: agent kind {self.kind!r} takes no meta-prompt optimizer")
        return self


class CacheConfig(_Strict):
    enabled: bool = Field(True, description="Use the LLM response cache (replays identical requests).")
    path: Path | None = Field(
        None, description="Cache file; default: llm_cache.sqlite in the experiment's out directory."
    )


class TrackingConfig(_Strict):
    kind: Literal["mlflow", "tensorboard"] = Field(
        description="mlflow: params, per-step metrics and the plots of every run; tensorboard: per-step scalars.")
    uri: str | None = Field(
        None, description="mlflow: tracking URI (any MLflow server or store); default: the local SQLite store "
        "sqlite:///OUT/mlflow.db with artifacts under OUT/mlartifacts.")
    experiment: str | None = Field(None, description="mlflow: experiment name; default: the config's name.")
    logdir: Path | None = Field(None, description="tensorboard: log directory; default: OUT/tensorboard.")

    @model_validator(mode="after")
    def _installed(self) -> TrackingConfig:
        import importlib.util

        needs = {"mlflow": "mlflow", "tensorboard": "tensorboard"}[self.kind]
        if importlib.util.find_spec(needs) is None:
            raise ValueError(f"tracking kind {self.kind!r} needs the {needs} package: pip install -e '.[tracking]'")
        return self


_RAY_ADDRESS = re.compile(r"^(auto|local|ray://[^\s/:]+(:\d+)?|[^\s/:]+:\d+)$")


class ExecutorConfig(_Strict):
    kind: Literal["local", "ray"] = Field(
        "local", description="local: every run in this process; ray: the runs split into shards, each run by a Ray "
        "actor that owns its LLM clients, while this process stays the one writer of the run store and the cache "
        "(docs/scale.md). A plain string is the kind (`executor: ray`).")
    address: str | None = Field(
        None, description="ray: the cluster to join: auto (the cluster started with `ray start` on this node), "
        "ray://HOST:PORT (Ray client), HOST:PORT (the head's GCS); none: start a local Ray instance.")
    workers: int = Field(2, ge=1, le=1024, strict=True, description="ray: actors (shards) running the runs.")
    resources_per_worker: dict[str, float] = Field(
        default_factory=lambda: {"num_cpus": 1.0},
        description="ray: what each actor reserves: num_cpus, num_gpus, memory (bytes) or a custom resource name; "
        "e.g. {num_gpus: 1} for one vLLM engine per GPU.")
    max_restarts: int = Field(
        3, ge=0, le=100, strict=True, description="ray: workers replaced after a fault (actor died, node lost) before "
        "the experiment stops; a replacement resumes the lost runs from their last committed step.")
    start_timeout_s: float = Field(
        300.0, gt=0, description="ray: seconds to wait for the workers to be placed and started (the cluster may lack "
        "their resources) before giving up with an error.")

    @model_validator(mode="before")
    @classmethod
    def _kind_only(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not _RAY_ADDRESS.match(v):
            raise ValueError("expected auto, local, ray://HOST:PORT or HOST:PORT")
        return v

    @field_validator("resources_per_worker")
    @classmethod
    def _resources(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if x < 0]
        if bad:
            raise ValueError(f"amounts must be non-negative ({bad[0]}: {v[bad[0]]})")
        return v


class ExperimentConfig(_Strict):
    imports: list[str] = Field(
        default_factory=list,
        description="Python modules imported before the rest is validated, to register your own environments, "
                    "agents and optimisers (see docs/extending.md); resolved from the working directory and the "
                    "config's directory. Importing runs code: only with --trust-imports or EXPOBENCH_TRUST_IMPORTS=1 "
                    "(docs/security.md).")
    name: str = Field(description="Experiment name.")
    env: EnvConfig = Field(description="The environment every run plays.")
    horizon: int = Field(100, ge=1, strict=True, description="Decisions (rounds / iterations) per run.")
    evaluations: int | None = Field(
        None, ge=1, strict=True, description="Evaluation budget of an optimisation task (LinReg, TSP, BO, HPO): a run "
        "stops once it has made this many evaluations after its initial design, so an LLM agent that evaluates n_proposals per "
        "iteration gets the budget of a one-per-step baseline; `horizon` then caps the steps and must be at least "
        "this. None: every run takes `horizon` steps (agents are still compared at the evaluations all reached).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS,
                              description="One run per seed and agent.")
    agents: list[AgentConfig] = Field(min_length=1, description="The agents to compare.")
    out: Path = Field(Path("runs/experiment"), description="Output directory (run store, plots).")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Default LLM settings for LLM agents.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="LLM response cache.")
    batch_width: int = Field(
        64, ge=1, strict=True,
        description="Runs advanced in lockstep; their LLM requests of one step go in one backend call."
    )
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="Where the runs execute: in this process (local) or on a Ray "
        "cluster (docs/scale.md). Results do not depend on it.")
    tracking: list[TrackingConfig] = Field(
        default_factory=list, description="Experiment trackers the finished runs are logged to (needs the "
        "'tracking' extra). Logged once per run; re-running a finished experiment logs nothing new.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("names use letters, digits, '_', '.', '-' and start with a letter or digit")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _integer_seeds(cls, v: Any) -> Any:
        if isinstance(v, list):
            bad = [s for s in v if isinstance(s, bool) or not isinstance(s, int)]
            if bad:
                raise ValueError(f"expected integers, not {_short(bad[0])}")
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError("seeds must be distinct non-negative integers")
        return v

    @field_validator("agents")
    @classmethod
    def _unique_names(cls, v: list[AgentConfig]) -> list[AgentConfig]:
        names = [a.name for a in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"agent names must be unique; repeated: {', '.join(dup)}")
        return v

    @model_validator(mode="after")
    def _evaluation_budget(self) -> ExperimentConfig:
        if self.evaluations is None:
            return self
        from expobench.experiments.metrics import METRICS, declared_metric

        if METRICS[declared_metric(self.env.id)].axis != "evaluation":
            raise ValueError(f"evaluations: {self.env.id} is not an optimisation task (its metric is counted per "
                             "round); set horizon instead")
        if self.horizon < self.evaluations:
            raise ValueError(f"horizon ({self.horizon}) must be at least evaluations ({self.evaluations}): a "
                             "baseline evaluates once per step")
        return self

    _llm_input = field_validator("llm", mode="before")(_llm_input)

    def llm_for(self, agent: AgentConfig) -> LLMConfig:
        return agent.llm if agent.llm is not None else self.llm

    def cache_path(self) -> Path:
        return self.cache.path if self.cache.path is not None else self.out / "llm_cache.sqlite"


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        key = _cut(str(part), MAX_ECHO)
        out += f"[{part}]" if isinstance(part, int) else (f".{key}" if out else key)
    return _cut(out) or "(top level)"


def _describe(err: dict[str, Any], prefix: str = "") -> str:
    loc = _loc(tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
    if prefix:
        loc = f"{prefix}.{loc}" if loc != "(top level)" else prefix
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown field (value {_short(err['input'])})"
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    if err["type"] == "finite_number":
        return f"{loc}: expected a finite number, not .inf or .nan (got {_short(err['input'])})"
    if err["type"] in ("int_type", "bool_type") or (err["type"].startswith("int_") and isinstance(err["input"], bool)):
        return f"{loc}: expected an integer (got {_short(err['input'])})"
    if err["type"] == "value_error" and re.match(r"^[A-Za-z_][\w.\[\]]*: ", msg):  # names a field inside loc
        return f"{msg}" if loc == "(top level)" else f"{loc}.{msg}"
    if err["type"] == "value_error":
        scalar = isinstance(err.get("input"), (str, int, float, bool)) or err.get("input") is None
        return f"{loc}: {msg} (got {_short(err['input'])})" if scalar else f"{loc}: {msg}"
    return f"{loc}: {msg} (got {_short(err['input'])})"


def import_modules(modules: Any, search: list[Path], source: str = "config") -> None:
    """Import the config's ``imports`` (registration side effects); a missing module is a config error."""
    import importlib
    import sys

    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ConfigError(f"{source}: invalid config\n  imports: expected a list of module names (got {modules!r})")
    for d in search:
        if str(d) not in sys.path:
            sys.path.append(str(d))
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise ConfigError(f"{source}: invalid config\n  imports: cannot import {m!r}: {e}") from None


#: Environment variable that trusts a config's ``imports`` (like ``--trust-imports``).
TRUST_ENV = "EXPOBENCH_TRUST_IMPORTS"


def imports_trusted(trust: bool | None = None) -> bool:
    """Whether a config's ``imports`` may run: ``trust`` when given, else ``EXPOBENCH_TRUST_IMPORTS=1``."""
    import os

    return bool(trust) if trust is not None else os.environ.get(TRUST_ENV, "") == "1"


def parse_config(data: Any, source: str = "config", base_dir: Path | None = None,
                 trust_imports: bool | None = None) -> ExperimentConfig:
    """Validate a parsed YAML document. Raises :class:`ConfigError` listing every problem.

    A config is data: its ``imports`` (modules whose import runs their code) are imported only when trusted
    (``trust_imports``, ``--trust-imports`` or ``EXPOBENCH_TRUST_IMPORTS=1``); otherwise a config that lists any is
    refused before anything is imported (docs/security.md)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level, got {type(data).__name__}")
    if data.get("imports"):
        if not imports_trusted(trust_imports):
            raise ConfigError(
                f"{source}: imports: importing {_short(data['imports'])} would run code from this config; pass "
                f"--trust-imports (Python: trust_imports=True, or set {TRUST_ENV}=1) if you trust it")
        import_modules(data["imports"], [Path.cwd()] + ([base_dir] if base_dir else []), source)
    _check_document(data, source)
    try:
        return ExperimentConfig.model_validate(_plain(data))
    except ValidationError as e:
        lines = [_describe(err) for err in e.errors()]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(f"  {line}" for line in lines)) from None


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` then overriding keys is fine
                continue
            key = self.construct_object(key_node, deep=True)
            ident = (type(key), key)
            try:
                hash(ident)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if ident in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_short(key)} (first on line {keys[ident] + 1})",
                    key_node.start_mark)
            keys[ident] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one short line: the problem and where."""
    if isinstance(e, yaml.MarkedYAMLError):
        problem = e.problem or e.context or "syntax error"
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return f"{where}{problem[:160]}"
    return str(e)[:160]


def _check_document(data: Any, source: str) -> None:
    """Refuse a document too large or deep once YAML aliases are expanded, and any ``.inf``/``.nan`` (every number
    in a config is finite), before it is validated, naming the first offending place."""
    budget = MAX_CONFIG_VALUES
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, loc, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ConfigError(f"{source}: too large: more than {MAX_CONFIG_VALUES} values once YAML aliases are "
                              "expanded")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{source}: {_cut(loc)}: nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: invalid config\n  {_cut(loc) or '(top level)'}: expected a finite number, not "
                              f".inf or .nan (got {value!r})")
        if isinstance(value, dict):
            for k, v in reversed(list(value.items())):
                key = _cut(str(k), MAX_ECHO)
                stack.append((v, f"{loc}.{key}" if loc else key, depth + 1))
        elif isinstance(value, (list, tuple)):
            for i in reversed(range(len(value))):
                stack.append((value[i], f"{loc}[{i}]", depth + 1))


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays (a config built in Python, e.g. ``seeds=np.arange(5)``) turned into
    the Python numbers and lists that a YAML config holds, so strict fields accept them (depth is bounded by
    :func:`_check_document`)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value


def load_config(path: str | Path, overrides: dict[str, Any] | None = None,
                trust_imports: bool | None = None) -> ExperimentConfig:
    """Read and validate a YAML config; ``overrides`` replace top-level fields (e.g. ``out``, ``seeds``);
    ``trust_imports`` as for :func:`parse_config`."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large for a config (more than {MAX_CONFIG_BYTES} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ConfigError(f"{path}: not a UTF-8 text YAML file")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    _check_document(data, str(path))
    if isinstance(data, dict) and overrides:
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_config(data, source=str(path), base_dir=path.resolve().parent, trust_imports=trust_imports)


def dump_config(cfg: ExperimentConfig) -> str:
    """The resolved config as YAML, every default visible: the experiment's fields and each agent's and
    optimiser's parameters as their kind's parameter model fills them (``--print-config``). Valid as a config."""
    from expobench.agents.registry import AGENTS
    from expobench.metaopt.registry import OPTIMIZERS

    data = cfg.model_dump(mode="json")
    for agent, dumped in zip(cfg.agents, data["agents"]):
        dumped["params"] = AGENTS[agent.kind].Params(**agent.params).model_dump(mode="json")
        if agent.optimizer is not None:
            params = OPTIMIZERS[agent.optimizer.kind].Params(**agent.optimizer.params)
            dumped["optimizer"]["params"] = params.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)
