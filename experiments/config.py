"""Typed experiment configuration (YAML → pydantic). Every field is documented; ``expobench run --print-config``
shows the resolved config with all defaults.

Errors are raised as :class:`~expobench.experiments.errors.ConfigError` with one line per problem, each naming the field
path, the bad value and what is allowed -- before any work starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from expobench.agents.llm.config import LLMConfig
from expobench.experiments.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class ExperimentConfig(_Strict):
    imports: list[str] = Field(
        default_factory=list,
        description="Python modules imported before the rest is validated, to register your own environments, "
                    "agents and optimisers (see docs/extending.md); resolved from the working directory and the "
                    "config's directory. Importing runs code: only with --trust-imports or EXPOBENCH_TRUST_IMPORTS=1 "
                    "(docs/security.md).")
    name: str = Field(description="Experiment name.")
    env: EnvConfig = Field(description="The environment every run plays.")
    horizon: int = Field(100, ge=1, description="Decisions (rounds / iterations) per run.")
    evaluations: int | None = Field(
        None, ge=1, description="Evaluation budget of an optimisation task (LinReg, TSP, BO, HPO): a run stops once "
        "it has made this many evaluations after its initial design, so an LLM agent that evaluates n_proposals per "
        "iteration gets the budget of a one-per-step baseline; `horizon` then caps the steps and must be at least "
        "this. None: every run takes `horizon` steps (agents are still compared at the evaluations all reached).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="One run per seed and agent.")
    agents: list[AgentConfig] = Field(min_length=1, description="The agents to compare.")
    out: Path = Field(Path("runs/experiment"), description="Output directory (run store, plots).")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Default LLM settings for LLM agents.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="LLM response cache.")
    batch_width: int = Field(
        64, ge=1, description="Runs advanced in lockstep; their LLM requests of one step go in one backend call."
    )
    tracking: list[TrackingConfig] = Field(
        default_factory=list, description="Experiment trackers the finished runs are logged to (needs the "
        "'tracking' extra). Logged once per run; re-running a finished experiment logs nothing new.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("names use letters, digits, '_', '.', '-' and start with a letter or digit")
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

    def llm_for(self, agent: AgentConfig) -> LLMConfig:
        return agent.llm if agent.llm is not None else self.llm

    def cache_path(self) -> Path:
        return self.cache.path if self.cache.path is not None else self.out / "llm_cache.sqlite"


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(err: dict[str, Any], prefix: str = "") -> str:
    loc = _loc(tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
    if prefix:
        loc = f"{prefix}.{loc}" if loc != "(top level)" else prefix
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown field (value {err['input']!r})"
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    if err["type"] == "value_error":
        scalar = isinstance(err.get("input"), (str, int, float, bool)) or err.get("input") is None
        return f"{loc}: {msg} (got {err['input']!r})" if scalar else f"{loc}: {msg}"
    return f"{loc}: {msg} (got {err['input']!r})"


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
                f"{source}: imports: importing {data['imports']!r} would run code from this config; pass "
                f"--trust-imports (Python: trust_imports=True, or set {TRUST_ENV}=1) if you trust it")
        import_modules(data["imports"], [Path.cwd()] + ([base_dir] if base_dir else []), source)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        lines = [_describe(err) for err in e.errors()]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(f"  {line}" for line in lines)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None,
                trust_imports: bool | None = None) -> ExperimentConfig:
    """Read and validate a YAML config; ``overrides`` replace top-level fields (e.g. ``out``, ``seeds``);
    ``trust_imports`` as for :func:`parse_config`."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
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
