"""The configuration reference (``docs/config.md``), generated from the config models themselves: the experiment
blocks, every agent kind's ``params`` and every optimiser kind's ``params``, with types, defaults and
descriptions. Regenerate after changing a model::

    python -m expobench.experiments.config_reference docs/config.md

A test fails when the committed file differs from what this module renders.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _type_name(t: Any) -> str:
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(t))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(t))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(t))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if t is type(None):
        return "null"
    return getattr(t, "__name__", str(t))


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(computed)"
        return "(see below)" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "required"
    value = field.default
    return f"`{value}`" if isinstance(value, Path) else f"`{value!r}`"


def _constraints(field: Any) -> str:
    out = []
    for m in field.metadata:
        for key, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "min length")):
            v = getattr(m, key, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return f" ({', '.join(out)})" if out else ""


def model_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    """A Markdown table of a model's fields: name, type, default, description."""
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, f in model.model_fields.items():
        if name in skip:
            continue
        desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {_type_name(f.annotation)}{_constraints(f)} | {_default(f)} | {desc} |")
    return "\n".join(rows) if len(rows) > 2 else "No parameters."


def _doc_line(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    first = re.split(r"\n\s*\n", doc)[0] if doc else ""
    return " ".join(first.split())


def render_reference() -> str:
    from expobench.agents.llm.config import LLMConfig
    from expobench.agents.llm_agent import LLMAgentParams
    from expobench.agents.registry import AGENTS, agent_kinds
    from expobench.experiments.config import (
        AgentConfig,
        CacheConfig,
        EnvConfig,
        ExecutorConfig,
        ExperimentConfig,
        OptimizerConfig,
    )
    from expobench.metaopt.registry import OPTIMIZERS

    parts = [
        "# Configuration reference",
        "",
        "Generated from the config models by `python -m expobench.experiments.config_reference docs/config.md`; do not edit "
        "by hand. An experiment is one YAML file; `expobench run CONFIG --print-config` shows it resolved with "
        "every default. Unknown fields are errors.",
        "",
    ]
    for title, model in (("Experiment (top level)", ExperimentConfig), ("`env`", EnvConfig),
                         ("`agents[]`", AgentConfig), ("`agents[].optimizer`", OptimizerConfig),
                         ("`llm` (top level, `agents[].llm`, `agents[].optimizer.llm`)", LLMConfig),
                         ("`cache`", CacheConfig), ("`executor` (docs/scale.md)", ExecutorConfig)):
        parts += [f"## {title}", "", model_table(model), ""]
    parts += ["## Agent kinds (`agents[].kind` and their `params`)", "",
              f"Every LLM agent also takes the common LLM-agent parameters ({', '.join(f'`{n}`' for n in LLMAgentParams.model_fields)}).",
              ""]
    common = tuple(LLMAgentParams.model_fields)
    for kind in agent_kinds():
        cls = AGENTS[kind]
        llm = " (LLM agent)" if cls.uses_llm else ""
        parts += [f"### `{kind}`{llm}", ""]
        if _doc_line(cls):
            parts += [_doc_line(cls), ""]
        parts += [model_table(cls.Params, skip=common if cls.uses_llm else ()), ""]
    parts += ["### Common LLM-agent parameters", "", model_table(LLMAgentParams), ""]
    parts += ["## Meta-prompt optimiser kinds (`agents[].optimizer.kind` and their `params`)", ""]
    for kind in sorted(OPTIMIZERS):
        cls = OPTIMIZERS[kind]
        parts += [f"### `{kind}`", ""]
        if _doc_line(cls):
            parts += [_doc_line(cls), ""]
        parts += [model_table(cls.Params), ""]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render_reference()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
