"""Indicator declarations: the `indicators` object of a run config or a plugin.json, checked.

This module sits below the plugin layer (the manifest validates a plugin's declared indicators with
it) and imports nothing of plughost but the errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plughost.errors import ConfigError

# type -> its parameters (with defaults; None = required)
PARAMS: dict[str, dict[str, float | int | None]] = {
    "sma": {"period": None},
    "ema": {"period": None},
    "rsi": {"period": None},
    "atr": {"period": None},
    "stddev": {"period": None},
    "bbands": {"period": None, "k": 2.0},
    "macd": {"fast": 12, "slow": 26, "signal": 9},
}
INDICATOR_TYPES = tuple(PARAMS)
# Indicators with several outputs publish them as "<name>.<output>".
OUTPUTS: dict[str, tuple[str, ...]] = {"bbands": ("upper", "middle", "lower"), "macd": ("line", "signal", "histogram")}
MAX_PERIOD = 100_000
MAX_K = 1000.0
# Indicators travel as extra batch columns beside the candle's own.
RESERVED_NAMES = ("timestamp", "open", "high", "low", "close", "volume", "symbol")


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    type: str
    period: int = 0  # unused by macd
    k: float = 2.0  # bbands
    fast: int = 12  # macd
    slow: int = 26
    signal: int = 9

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names this indicator's values are published under."""
        parts = OUTPUTS.get(self.type)
        return tuple(f"{self.name}.{p}" for p in parts) if parts else (self.name,)


def _int_param(where: str, key: str, value: Any, low: int, problems: list[str]) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_PERIOD:
        problems.append(f"{where}: '{key}' must be an integer from {low} to {MAX_PERIOD}, got {value!r}")
        return None
    return value


def _one(name: Any, body: Any, problems: list[str]) -> IndicatorSpec | None:
    known = ", ".join(INDICATOR_TYPES)
    where = f"indicator '{name}'"
    if not isinstance(name, str) or not name:
        problems.append(f"indicator names must be non-empty strings, got {name!r}")
        return None
    if name in RESERVED_NAMES:
        problems.append(f"{where}: the name clashes with a candle column; pick another name")
        return None
    if not isinstance(body, Mapping):
        problems.append(f"{where}: expected an object like {{\"type\": \"sma\", \"period\": 10}}")
        return None
    typ = body.get("type")
    if not isinstance(typ, str) or typ.lower() not in PARAMS:
        problems.append(f"{where}: unknown type {typ!r}; known types: {known}")
        return None
    typ = typ.lower()
    params = PARAMS[typ]
    unknown = sorted(set(body) - {"type", *params})
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))} for type '{typ}' "
                        f"(allowed: type, {', '.join(params)})")
    values: dict[str, Any] = {}
    before = len(problems)
    for key, default in params.items():
        if key not in body and default is None:
            problems.append(f"{where}: '{key}' is required for type '{typ}'")
            continue
        raw = body.get(key, default)
        if key == "k":
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) \
                    or not 0 < raw <= MAX_K:
                problems.append(f"{where}: 'k' must be a number above 0 and at most {MAX_K:g}, got {raw!r}")
                continue
            values[key] = float(raw)
        else:
            values[key] = _int_param(where, key, raw, 1, problems)
    if len(problems) > before:
        return None
    if typ == "macd" and values["fast"] >= values["slow"]:
        problems.append(f"{where}: 'fast' ({values['fast']}) must be below 'slow' ({values['slow']})")
        return None
    return IndicatorSpec(name=name, type=typ, **values)


def parse_indicators(spec: Mapping[str, Any] | None) -> list[IndicatorSpec]:
    """An `indicators` object -> specs, in its order. `None` -> no indicators. `ConfigError` naming
    every bad indicator and listing the known types."""
    if spec is None:
        return []
    known = ", ".join(INDICATOR_TYPES)
    if not isinstance(spec, Mapping):
        raise ConfigError("'indicators' must be an object mapping names to {type, period}",
                          hint=f"known types: {known}")
    out: list[IndicatorSpec] = []
    problems: list[str] = []
    for name, body in spec.items():
        one = _one(name, body, problems)
        if one is not None:
            out.append(one)
    seen: dict[str, str] = {}
    for s in out:
        for o in s.outputs:
            if o in seen:
                problems.append(f"indicator '{s.name}': its output '{o}' clashes with indicator '{seen[o]}'")
            elif o in RESERVED_NAMES:
                problems.append(f"indicator '{s.name}': its output '{o}' clashes with a candle column")
            seen[o] = s.name
    if problems:
        raise ConfigError(
            "invalid indicators: " + "; ".join(problems), problems=problems, hint=f"known types: {known}"
        )
    return out


def merged_indicators(manifest_indicators: Mapping[str, Any] | None,
                      run_indicators: Mapping[str, Any] | None) -> dict[str, Any]:
    """A strategy's declared indicators with the run's on top: the run's win on a name clash. The
    declared ones keep their order, then the run's new names follow in theirs."""
    return {**dict(manifest_indicators or {}), **dict(run_indicators or {})}
