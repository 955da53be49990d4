"""Sweeps: several experiments from one command (``expobench sweep``), each into its own output directory under
the sweep's, all validated before any runs and run one after the other on the same executor.

A sweep is given as

- a sweep file (YAML)::

      name: eta-sweep                 # the sweep directory's name (default: the file's stem)
      configs: [../demo.yaml]         # experiment configs, relative to this file (or `config: one.yaml`)
      set:                            # Hydra-style overrides, FIELD.PATH: [values]; their product is swept
        agents.3.optimizer.params.eta: [10, 100, 1000]
      out: runs/eta-sweep             # the sweep directory (default: runs/NAME)

- or experiment configs and directories of them (every ``*.yaml`` inside: a reproduction set is one sweep) on
  the command line, with ``--set FIELD.PATH=v1,v2,...`` overrides.

A field path walks the config's mapping: names for mapping keys, integers for list items (``agents.2`` is the
third agent). Values are read as YAML (``10`` is an integer, ``[1, 2]`` a list). An override whose path does not
name a field of the config (an unknown key, a list index out of range, a key under a value that is not a
mapping) is a :class:`ConfigError` naming it, before any work.

Each experiment is named ``CONFIG_NAME`` or, with overrides, ``CONFIG_NAME__eta-10`` (the path's last name and
the value), and written to ``SWEEP_DIR/NAME``; ``SWEEP_DIR/sweep.json`` lists them (``expobench summary`` and
``report`` accept the sweep directory).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from expobench.experiments.config import ExperimentConfig, _short, parse_config
from expobench.experiments.errors import ConfigError

MANIFEST = "sweep.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class SweepItem:
    """One experiment of a sweep: its name, the config it came from and the overrides applied."""

    name: str
    source: str
    overrides: dict[str, Any]
    config: ExperimentConfig


def parse_overrides(texts: list[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2", "c=x"]`` -> ``{"a.b": [1, 2], "c": ["x"]}`` (values read as YAML)."""
    out: dict[str, list[Any]] = {}
    for text in texts:
        path, sep, values = text.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise ConfigError(f"--set {_short(text)}: expected FIELD.PATH=VALUE[,VALUE...]")
        try:
            out[path.strip()] = [yaml.safe_load(v) for v in _split(values)]
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {path}: a value is not valid YAML: {e}") from None
    return out


def _split(values: str) -> list[str]:
    """Comma-separated values; commas inside brackets belong to a value (``[1,2],[3,4]``)."""
    parts, depth, cur = [], 0, ""
    for ch in values:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data``'s field at ``path`` (``agents.2.optimizer.params.eta``) to ``value``. A mapping may gain the
    last key (fields left at their default); the config's validation then refuses names it does not know. A list
    index out of range or a step into a value that is not a mapping or list is a :class:`ConfigError`."""
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[:i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {path}: {where}: no such item (the list has {len(node)} items)")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {path}: {'.'.join(parts[:i])} is {_short(node)}, which has no field {part!r}")


def _label(path: str, value: Any) -> str:
    leaf = path.split(".")[-1]
    return _UNSAFE.sub("_", f"{leaf}-{value if not isinstance(value, (list, dict)) else json.dumps(value)}")


def _read(path: Path) -> dict[str, Any]:
    """A config file's mapping (validated later, with the overrides applied)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the config: {str(e)[:160]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level")
    return data


def expand(sources: list[Path], overrides: dict[str, list[Any]], out: Path,
           trust_imports: bool | None = None) -> list[SweepItem]:
    """The experiments of a sweep: every config of ``sources`` (files, or directories of ``*.yaml``) × the product
    of ``overrides``, each validated (a :class:`ConfigError` naming the config and field otherwise) and given
    ``out/NAME`` as its output directory."""
    files: list[Path] = []
    for src in sources:
        if src.is_dir():
            found = sorted(src.glob("*.yaml"))
            if not found:
                raise ConfigError(f"{src}: no *.yaml configs in this directory")
            files += found
        elif src.is_file():
            files.append(src)
        else:
            raise ConfigError(f"config file not found: {src}")
    items: list[SweepItem] = []
    keys = list(overrides)
    for path in files:
        base = _read(path)
        for values in itertools.product(*(overrides[k] for k in keys)):
            data = copy.deepcopy(base)
            chosen = dict(zip(keys, values))
            for k, v in chosen.items():
                set_path(data, k, v)
            name = "__".join([str(base.get("name", path.stem)), *(_label(k, v) for k, v in chosen.items())])
            data["name"] = name
            data["out"] = str(out / name)
            try:
                cfg = parse_config(data, source=f"{path}" + (f" with {', '.join(f'{k}={v}' for k, v in chosen.items())}"
                                                             if chosen else ""),
                                   base_dir=path.resolve().parent, trust_imports=trust_imports)
            except ConfigError as e:
                unknown = [k for k in keys if _names_unknown(str(e), k)]
                hint = f" (--set {unknown[0]} names no field of this config)" if unknown else ""
                raise ConfigError(f"{e}{hint}") from None
            items.append(SweepItem(name, str(path), chosen, cfg))
    names = [i.name for i in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"sweep: two experiments would share the name {dup[0]!r} (configs with the same name); "
                          "give them distinct names")
    return items


def _names_unknown(message: str, path: str) -> bool:
    """Whether a validation message says the override's field is unknown."""
    dotted = re.sub(r"\.(\d+)", r"[\1]", path)
    return "unknown field" in message and (dotted in message or path.split(".")[-1] in message)


def load_sweep_file(path: Path, extra_overrides: dict[str, list[Any]] | None = None
                    ) -> tuple[str, list[Path], dict[str, list[Any]], Path | None]:
    """(name, config paths, overrides, out or None) of a sweep file; ``extra_overrides`` (from ``--set``) are
    added to its ``set``."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the sweep file: {e}") from None
    allowed = {"name", "config", "configs", "set", "out"}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(sorted(allowed))}")
    extra = sorted(set(data) - allowed)
    if extra:
        raise ConfigError(f"{path}: {extra[0]}: unknown field of a sweep file (allowed: {', '.join(sorted(allowed))})")
    configs = data.get("configs") or ([data["config"]] if data.get("config") else [])
    if not configs or not all(isinstance(c, str) for c in configs):
        raise ConfigError(f"{path}: configs: expected a list of experiment config paths")
    sets = data.get("set") or {}
    if not isinstance(sets, dict) or not all(isinstance(v, list) and v for v in sets.values()):
        raise ConfigError(f"{path}: set: expected FIELD.PATH: [VALUE, ...] entries")
    overrides = {str(k): list(v) for k, v in sets.items()}
    overrides.update(extra_overrides or {})
    out = Path(data["out"]) if data.get("out") else None
    return str(data.get("name") or path.stem), [path.parent / c for c in configs], overrides, out


def is_sweep_file(path: Path) -> bool:
    """A YAML file with ``configs``/``config`` and no ``env``: a sweep file rather than an experiment config."""
    if not path.is_file():
        return False
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and ("configs" in data or "config" in data) and "env" not in data


def resolve(args: list[str], sets: list[str], out: str | None, trust_imports: bool | None = None
            ) -> tuple[Path, list[SweepItem]]:
    """The sweep directory and experiments of ``expobench sweep ARGS --set ... --out ...``."""
    overrides = parse_overrides(sets)
    paths = [Path(a) for a in args]
    if len(paths) == 1 and is_sweep_file(paths[0]):
        name, sources, overrides, file_out = load_sweep_file(paths[0], overrides)
        sweep_out = Path(out) if out else file_out or Path("runs") / name
    else:
        sources = paths
        stem = paths[0].name if paths[0].is_dir() else paths[0].stem
        sweep_out = Path(out) if out else Path("runs") / f"sweep-{stem}"
    return sweep_out, expand(sources, overrides, sweep_out, trust_imports)


def write_manifest(out: Path, items: list[SweepItem]) -> Path:
    """``out/sweep.json``: the experiments (name, source config, overrides, output directory)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    path.write_text(json.dumps([{"name": i.name, "source": i.source, "overrides": i.overrides}
                                for i in items], indent=2, default=str))
    return path


def run_sweep(out: Path, items: list[SweepItem], *, use_cache: bool = True, progress: bool = True,
              log: Any = print) -> list[Path]:
    """Check every experiment (the dry pass, and the executor's cluster once) before any work, write the
    manifest, then run (or resume) the experiments one after the other; returns their output directories."""
    from expobench.experiments.preflight import preflight
    from expobench.experiments.runner import run_experiment

    for item in items:
        preflight(item.config)
    ray_items = [i for i in items if i.config.executor.kind == "ray"]
    if ray_items:
        from expobench.experiments.ray_executor import RayExecutor

        RayExecutor.connect(ray_items[0].config)
    write_manifest(out, items)
    done = []
    for k, item in enumerate(items, 1):
        log(f"[{k}/{len(items)}] {item.name} -> {item.config.out}")
        run_experiment(item.config, use_cache=use_cache, progress=progress).close()
        done.append(Path(item.config.out))
    return done


def expand_outs(outs: list[str]) -> list[str]:
    """Output directories with each sweep directory (one holding ``sweep.json``) replaced by its experiments'
    directories that hold a run store."""
    result: list[str] = []
    for o in outs:
        manifest = Path(o) / MANIFEST
        if manifest.is_file():
            entries = json.loads(manifest.read_text())
            result += [str(Path(o) / e["name"]) for e in entries if (Path(o) / e["name"] / "runs.sqlite").exists()]
        else:
            result.append(o)
    return result
