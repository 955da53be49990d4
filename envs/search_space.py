"""Bounded search spaces of named parameters, shared by the black-box (BO) and tabular HPO environments.

A point is a float vector in *natural units*, one entry per parameter in declaration order (integers are whole
floats). Classical optimisers work in the unit cube: :meth:`SearchSpace.from_unit` maps ``u ∈ [0, 1]^d`` through
each parameter's scale (``linear``, ``log``, ``logit``) and rounds integer parameters; :meth:`to_unit` inverts it.
LLM agents see and write natural units: :meth:`json_schema` bounds every field, :meth:`check` validates a proposal
and says what is wrong (never clips silently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Scale = Literal["linear", "log", "logit"]


@dataclass(frozen=True)
class Param:
    name: str
    low: float
    high: float
    scale: Scale = "linear"
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"{self.name}: need low < high, got [{self.low}, {self.high}]")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"{self.name}: a log scale needs low > 0")
        if self.scale == "logit" and not (0 < self.low and self.high < 1):
            raise ValueError(f"{self.name}: a logit scale needs 0 < low < high < 1")

    def _fwd(self, v: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.log(v)
        if self.scale == "logit":
            return np.log(v / (1 - v))
        return v

    def _inv(self, z: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.exp(z)
        if self.scale == "logit":
            return 1 / (1 + np.exp(-z))
        return z

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        lo, hi = self._fwd(np.float64(self.low)), self._fwd(np.float64(self.high))
        v = np.clip(self._inv(lo + np.clip(u, 0, 1) * (hi - lo)), self.low, self.high)
        return np.round(v) if self.integer else v

    def to_unit(self, v: np.ndarray) -> np.ndarray:
        lo, hi = self._fwd(np.float64(self.low)), self._fwd(np.float64(self.high))
        return np.clip((self._fwd(np.clip(v, self.low, self.high)) - lo) / (hi - lo), 0, 1)

    def describe(self) -> str:
        kind = "integer" if self.integer else "number"
        return f"{self.name}: {kind} in [{_num(self.low)}, {_num(self.high)}], {self.scale} scale"


class SearchSpace:
    """An ordered list of :class:`Param`. Points are arrays of shape ``[d]`` (or ``[n, d]`` for batches)."""

    def __init__(self, params: Sequence[Param]) -> None:
        names = [p.name for p in params]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"parameter names must be unique and non-empty, got {names}")
        self.params = tuple(params)
        self.names = tuple(names)
        self.low = np.array([p.low for p in params], dtype=np.float64)
        self.high = np.array([p.high for p in params], dtype=np.float64)

    @property
    def dim(self) -> int:
        return len(self.params)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        return np.stack([p.from_unit(u[..., i]) for i, p in enumerate(self.params)], axis=-1)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.stack([p.to_unit(x[..., i]) for i, p in enumerate(self.params)], axis=-1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points uniform in the unit cube (so log-scaled parameters are log-uniform), shape ``[n, d]``."""
        return self.from_unit(rng.random((n, self.dim)))

    def check(self, x: Any) -> str | None:
        """``None`` when ``x`` is a valid point, else what is wrong with it."""
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            return f"not a numeric vector: {x!r}"
        if arr.shape != (self.dim,):
            return f"expected {self.dim} values, got shape {arr.shape}"
        for p, v in zip(self.params, arr):
            if not np.isfinite(v):
                return f"{p.name} is not finite"
            if not p.low <= v <= p.high:
                return f"{p.name}={_num(v)} outside [{_num(p.low)}, {_num(p.high)}]"
            if p.integer and not float(v).is_integer():
                return f"{p.name}={_num(v)} is not an integer"
        return None

    def to_dict(self, x: np.ndarray) -> dict[str, float | int]:
        return {p.name: int(v) if p.integer else float(v) for p, v in zip(self.params, np.asarray(x, float))}

    def from_dict(self, values: Mapping[str, Any]) -> tuple[np.ndarray | None, str | None]:
        """A point from ``{name: value}`` (every name, nothing else), validated; ``(None, error)`` otherwise."""
        if not isinstance(values, Mapping):
            return None, f"expected an object, got {type(values).__name__}"
        missing = [n for n in self.names if n not in values]
        extra = [k for k in values if k not in self.names]
        if missing or extra:
            return None, f"missing {missing}, unexpected {extra}"
        vals = []
        for n in self.names:
            v = values[n]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return None, f"{n} is not a number: {v!r}"
            vals.append(float(v))
        x = np.array(vals)
        err = self.check(x)
        return (None, err) if err else (x, None)

    def json_schema(self) -> dict[str, Any]:
        """A JSON schema for one point as an object with every parameter, bounded."""
        props = {p.name: {"type": "integer" if p.integer else "number", "minimum": p.low, "maximum": p.high}
                 for p in self.params}
        return {"type": "object", "properties": props, "required": list(self.names), "additionalProperties": False}

    def describe(self) -> str:
        return "\n".join(f"- {p.describe()}" for p in self.params)


def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"
