"""The run config: what one backtest is (strategy, data, features) and how it is simulated.

Users write the strategy's own parameters in `config`; a few names there are reserved for the run
itself (`size`, `fee_bps`, `history`, `indicators`, `initial_capital`, `batch_size`) and are lifted out
of it, so `{"period": 14, "fee_bps": 5}` works as one flat file. See docs/run-config.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Literal, cast

from plughost_sdk.orders import Rules

from ..errors import ConfigError

RUN_KEYS_IN_CONFIG = ("size", "fee_bps", "history", "indicators", "initial_capital", "batch_size", "slippage_bps",
                      "size_mode", "leverage", "fill_at", "timestamp_unit", "lookahead_check")
# What a feature's on_pre_run may not change: the run's data and plugins, and what confines its plugins
# (a feature must not lift the strategy's memory limit, hand it variables, or take it out of the sandbox).
FROZEN_KEYS = ("strategy", "candles", "alerts", "features", "memory_limit_mb", "env", "sandbox")
MAX_TIMEOUT_S = 86_400.0  # one day: longer is a typo (or `inf`), and would overflow poll() deadlines


OnError = Literal["continue", "fail"]


@dataclass(kw_only=True)
class FeatureEntry:
    """One attached feature. `onError` in a config file (or `on_error`)."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    on_error: OnError = "continue"
    # This feature's call timeout (seconds) for its hooks and for writing it a notification; None: the
    # run's call_timeout. A slow report may need more, an optional feature deserves less.
    timeout: float | None = None


# Sane ranges: a value outside them is a typo or an overflow, refused before any plugin starts.
MAX_MONEY = 1e15
MAX_SECONDS = MAX_TIMEOUT_S


@dataclass(kw_only=True)
class RunConfig:
    """One backtest. The rules (types, ranges, the keys allowed) are the pydantic model's in
    `runconfig_model.py`; a config that is plainly valid is checked here without pydantic, which costs
    ~0.1 s of every `plughost run`'s start (docs/performance.md). Keeps the few pydantic method names its
    callers use (`model_validate`, `model_dump`, `model_copy`, `model_fields`)."""

    id: str | None = None
    strategy: str
    candles: str
    alerts: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    features: list[FeatureEntry] = field(default_factory=list)
    size: float = 1.0
    size_mode: Literal["units", "notional", "fraction"] = "units"
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    leverage: float = 1.0
    fill_at: Literal["next_open", "close"] = "next_open"
    history: int = 200
    initial_capital: float = 10_000.0
    indicators: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_size: int = 8192
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None  # None: read from the magnitude
    lookahead_check: bool = True  # replay samples of on_batch strategies' batches cut short (docs/orders.md)
    start_timeout: float = 10.0
    call_timeout: float = 30.0
    env: dict[str, str] = field(default_factory=dict)
    memory_limit_mb: float | None = None  # per plugin process; None: no limit
    sandbox: bool = False  # each plugin in its own namespaces (transport/sandbox.py)

    model_fields: ClassVar[dict[str, Any]]

    def rules(self) -> Rules:
        """The order model's keys, as the book and the SDKs take them."""
        return Rules(initial_capital=self.initial_capital, fee_bps=self.fee_bps, slippage_bps=self.slippage_bps,
                     size=self.size, size_mode=self.size_mode, leverage=self.leverage, fill_at=self.fill_at)

    @classmethod
    def parse(cls, data: dict[str, Any], *, source: str = "run config") -> RunConfig:
        data = dict(data)
        config = dict(data.get("config") or {})
        for key in RUN_KEYS_IN_CONFIG:
            if key in config:
                data.setdefault(key, config.pop(key))
        if "features" in config:  # a config file may list the run's features too (docs/run-config.md)
            data["features"] = merge_features(config.pop("features"), data.get("features") or [])
        data["config"] = config
        run, found = checked_run_config(data)
        if run is not None:
            return run
        problems = [f"{loc or '(top)'}: {msg}" for loc, msg in found]
        raise ConfigError(
            f"{source} is invalid: " + "; ".join(problems), problems=problems,
            hint="see `plughost run --help` for the keys a run takes",
        )

    @classmethod
    def model_validate(cls, data: Any) -> RunConfig:
        """The config `data` holds; pydantic's `ValidationError` when it is not one."""
        quick = quick_run_config(data)
        if quick is not None:
            return quick
        from .runconfig_model import model_record

        return model_record(data)

    def model_dump(self, *, mode: str = "python", by_alias: bool = False, **options: Any) -> dict[str, Any]:
        """As the pydantic model dumps it. The JSON form by alias (`to_user_dict`) is built here when every
        value is plain JSON; anything else asks the model."""
        if mode == "json" and by_alias and not options:
            try:
                return self._json()
            except _NotPlain:
                pass
        from .runconfig_model import dump

        return dump(self, mode=mode, by_alias=by_alias, **options)

    def model_copy(self, *, update: dict[str, Any] | None = None) -> RunConfig:
        """A copy with `update`'s fields replaced, not validated again (as pydantic's)."""
        return replace(self, **(update or {}))

    def to_python(self) -> dict[str, Any]:
        """Every field by name, features as dicts (what the model validates back into this config)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["features"] = [{f.name: getattr(e, f.name) for f in fields(e)} for e in self.features]
        return values

    def _json(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "features"}
        out["features"] = [{"name": e.name, "config": _plain(e.config), "priority": e.priority,
                            "onError": e.on_error, "timeout": e.timeout} for e in self.features]
        return {f.name: out[f.name] for f in fields(self)}  # in the model's field order

    def to_user_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_record_dict(self) -> dict[str, Any]:
        """What summary.json and the journal keep: `env` by its names only (its values may be secrets)."""
        return redact_env(self.to_user_dict())

    def sorted_features(self) -> list[FeatureEntry]:
        """Higher priority first, then by name: the order hooks run in."""
        return sorted(self.features, key=lambda f: (-f.priority, f.name))


RunConfig.model_fields = {f.name: f for f in fields(RunConfig)}


# ---------------------------------------------------------------------------------------- the quick check
# What it accepts, the model accepts with the same values (tests/executor/test_runconfig_quick.py): exact
# JSON types only (an int for a float field is widened, as the model does), every range met; anything
# else, valid or not, goes to the model, which words the errors.

_FLOATS: dict[str, tuple[float, bool, float, bool]] = {  # name: (low, low allowed, high, high allowed)
    "size": (0, False, MAX_MONEY, True), "fee_bps": (0, True, 10_000, True),
    "slippage_bps": (0, True, 10_000, False), "leverage": (0, False, 1_000, True),
    "initial_capital": (0, False, MAX_MONEY, True), "start_timeout": (0, False, MAX_SECONDS, True),
    "call_timeout": (0, False, MAX_SECONDS, True), "memory_limit_mb": (0, False, 1e9, True),
}
_INTS = {"history": (1, 100_000), "batch_size": (1, 1_000_000)}
_CHOICES: dict[str, tuple[str, ...]] = {
    "size_mode": ("units", "notional", "fraction"), "fill_at": ("next_open", "close"),
    "timestamp_unit": ("s", "ms", "us", "ns"),
}
_OPTIONAL = frozenset(("id", "alerts", "timestamp_unit", "memory_limit_mb"))
_FEATURE_KEYS = frozenset(("name", "config", "priority", "onError", "on_error", "timeout"))


class _NotPlain(Exception):
    """A value the quick path leaves to the model."""


def _number(value: Any, bounds: tuple[float, bool, float, bool]) -> float:
    if type(value) is int and abs(value) <= 2**53:  # widened exactly, as the model does
        value = float(value)
    if type(value) is not float or not math.isfinite(value):
        raise _NotPlain
    low, low_ok, high, high_ok = bounds
    if not ((value >= low) if low_ok else (value > low)) or not ((value <= high) if high_ok else (value < high)):
        raise _NotPlain
    return value


def _str_dict(value: Any) -> dict[str, Any]:
    if type(value) is not dict or not all(type(k) is str for k in value):
        raise _NotPlain
    return dict(value)


def _feature(value: Any) -> FeatureEntry:
    if type(value) is str:
        return FeatureEntry(name=value)
    if type(value) is not dict or not _FEATURE_KEYS.issuperset(value) or ("onError" in value and "on_error" in value):
        raise _NotPlain
    name, priority = value.get("name"), value.get("priority", 0)
    on_error, timeout = value.get("onError", value.get("on_error", "continue")), value.get("timeout")
    if type(name) is not str or type(priority) is not int or on_error not in ("continue", "fail") \
            or type(on_error) is not str:
        raise _NotPlain
    seconds = None if timeout is None else _number(timeout, (0, False, MAX_TIMEOUT_S, True))
    return FeatureEntry(name=name, config=_str_dict(value.get("config", {})), priority=priority,
                        on_error=cast(OnError, on_error), timeout=seconds)


def checked_run_config(data: Any) -> tuple[RunConfig | None, list[tuple[str, str]]]:
    """The run config `data` holds, or None with the model's problems as (location, message)."""
    quick = quick_run_config(data)
    if quick is not None:
        return quick, []
    from .runconfig_model import problems

    return problems(data)


def quick_run_config(data: Any) -> RunConfig | None:
    """The run config `data` plainly is, or None (the model then decides)."""
    if type(data) is not dict or not RunConfig.model_fields.keys() >= data.keys() \
            or "strategy" not in data or "candles" not in data:
        return None
    values: dict[str, Any] = {}
    try:
        for key, value in data.items():
            if value is None and key in _OPTIONAL:
                values[key] = None
            elif key in _FLOATS:
                values[key] = _number(value, _FLOATS[key])
            elif key in _INTS:
                low, high = _INTS[key]
                if type(value) is not int or not low <= value <= high:
                    raise _NotPlain
                values[key] = value
            elif key in _CHOICES:
                if type(value) is not str or value not in _CHOICES[key]:
                    raise _NotPlain
                values[key] = value
            elif key in ("id", "strategy", "candles", "alerts"):
                if type(value) is not str:
                    raise _NotPlain
                values[key] = value
            elif key in ("lookahead_check", "sandbox"):
                if type(value) is not bool:
                    raise _NotPlain
                values[key] = value
            elif key == "config":
                values[key] = _str_dict(value)
            elif key == "indicators":
                values[key] = {k: _str_dict(v) for k, v in _str_dict(value).items()}
            elif key == "env":
                env = _str_dict(value)
                if not all(type(v) is str for v in env.values()):
                    raise _NotPlain
                values[key] = env
            elif key == "features":
                if type(value) is not list:
                    raise _NotPlain
                values[key] = [_feature(v) for v in value]
            else:
                raise _NotPlain
    except _NotPlain:
        return None
    return RunConfig(**values)


def _plain(value: Any) -> Any:
    """A copy of plain JSON (the model's JSON dump of it is itself); `_NotPlain` for anything else."""
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise _NotPlain
        return value
    if type(value) is list:
        return [_plain(v) for v in value]
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise _NotPlain
        return {k: _plain(v) for k, v in value.items()}
    raise _NotPlain


def redact_env(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a run dict whose `env` is the sorted list of its variable names."""
    env = data.get("env")
    if isinstance(env, dict):
        return {**data, "env": sorted(env)}
    return data
def merge_features(base: Any, extra: list[Any]) -> Any:
    """The features of a config file (`base`) with those of the run's own `features` key or `--feature`
    flags (`extra`) added: a name already in `base` keeps its entry, with `extra`'s keys and config merged
    over it. Anything but lists is returned as it is, for validation to name."""
    if not isinstance(base, list) or not isinstance(extra, list):
        return base
    merged: list[Any] = [{"name": e} if isinstance(e, str) else e for e in base]
    for entry in extra:
        entry = {"name": entry} if isinstance(entry, str) else entry
        same = next((i for i, m in enumerate(merged)
                     if isinstance(m, dict) and isinstance(entry, dict) and m.get("name") == entry.get("name")), None)
        if same is None:
            merged.append(entry)
            continue
        old = merged[same]
        config = {**(old.get("config") or {}), **(entry.get("config") or {})}
        merged[same] = {**old, **entry, "config": config}
    return merged


def check_pre_run_change(before: RunConfig, after: dict[str, Any], plugin: str) -> RunConfig:
    """Validate a config returned by a feature's on_pre_run; the data and plugins of a run are not its to change."""
    if not isinstance(after, dict):
        raise ConfigError(f"feature '{plugin}' returned a run config that is not an object", plugin=plugin)
    old = before.to_user_dict()
    changed = [key for key in FROZEN_KEYS if key in after and after[key] != old[key]]
    if changed:
        what = "; ".join(f"`{key}` ({old[key]!r} -> {after[key]!r})" for key in changed)
        raise ConfigError(
            f"feature '{plugin}' tried to change {what} in on_pre_run; a pre-run hook may not change "
            f"{', '.join(FROZEN_KEYS)}",
            plugin=plugin, problems=[f"{key}: may not be changed by on_pre_run" for key in changed],
            hint="change parameters such as `config`, `size` or `fee_bps` instead, and return the other keys as given",
        )
    merged = {**old, **after}
    config = dict(merged.get("config") or {}) if isinstance(merged.get("config"), dict) else merged.get("config")
    if isinstance(config, dict):  # a run key written inside `config` (as users may) wins, as in RunConfig.parse
        for key in RUN_KEYS_IN_CONFIG:
            if key in config:
                merged[key] = config.pop(key)
        merged["config"] = config
    run, found = checked_run_config(merged)
    if run is not None:
        return run
    problems = [f"{loc}: {msg}" for loc, msg in found]
    raise ConfigError(f"feature '{plugin}' returned an invalid run config from on_pre_run: " + "; ".join(problems),
                      plugin=plugin, problems=problems, hint="return the config it was given, with valid changes")
