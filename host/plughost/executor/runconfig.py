"""The run config: what one backtest is (strategy, data, features) and how it is simulated.

Users write the strategy's own parameters in `config`; a few names there are reserved for the run
itself (`size`, `fee_bps`, `history`, `indicators`, `initial_capital`, `batch_size`) and are lifted out
of it, so `{"period": 14, "fee_bps": 5}` works as one flat file. See docs/run-config.md.
"""

from __future__ import annotations

from typing import Any, Literal

from plughost_sdk.orders import Rules
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError

RUN_KEYS_IN_CONFIG = ("size", "fee_bps", "history", "indicators", "initial_capital", "batch_size", "slippage_bps",
                      "size_mode", "leverage", "fill_at", "timestamp_unit", "lookahead_check")
FROZEN_KEYS = ("strategy", "candles", "alerts", "features")


class FeatureEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    name: str
    config: dict[str, Any] = Field(default_factory=dict)
    priority: int = 0
    on_error: Literal["continue", "fail"] = Field("continue", alias="onError")
    # This feature's call timeout (seconds) for its hooks and for writing it a notification; None: the
    # run's call_timeout. A slow report may need more, an optional feature deserves less.
    timeout: float | None = Field(None, gt=0, le=86_400.0)


# Sane ranges: a value outside them is a typo or an overflow, refused before any plugin starts.
MAX_MONEY = 1e15
MAX_SECONDS = 86_400.0


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str | None = None
    strategy: str
    candles: str
    alerts: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    features: list[FeatureEntry] = Field(default_factory=list)
    size: float = Field(1.0, gt=0, le=MAX_MONEY)
    size_mode: Literal["units", "notional", "fraction"] = "units"
    fee_bps: float = Field(0.0, ge=0, le=10_000)
    slippage_bps: float = Field(0.0, ge=0, lt=10_000)
    leverage: float = Field(1.0, gt=0, le=1_000)
    fill_at: Literal["next_open", "close"] = "next_open"
    history: int = Field(200, ge=1, le=100_000)
    initial_capital: float = Field(10_000.0, gt=0, le=MAX_MONEY)
    indicators: dict[str, dict[str, Any]] = Field(default_factory=dict)
    batch_size: int = Field(8192, ge=1, le=1_000_000)
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None  # None: read from the magnitude
    lookahead_check: bool = True  # replay samples of on_batch strategies' batches cut short (docs/orders.md)
    start_timeout: float = Field(10.0, gt=0, le=MAX_SECONDS)
    call_timeout: float = Field(30.0, gt=0, le=MAX_SECONDS)
    env: dict[str, str] = Field(default_factory=dict)
    memory_limit_mb: float | None = Field(None, gt=0, le=1e9)  # per plugin process; None: no limit

    def rules(self) -> Rules:
        """The order model's keys, as the book and the SDKs take them."""
        return Rules(initial_capital=self.initial_capital, fee_bps=self.fee_bps, slippage_bps=self.slippage_bps,
                     size=self.size, size_mode=self.size_mode, leverage=self.leverage, fill_at=self.fill_at)

    @field_validator("features", mode="before")
    @classmethod
    def _names_to_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

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
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()]
            raise ConfigError(
                f"{source} is invalid: " + "; ".join(problems), problems=problems,
                hint="see `plughost run --help` for the keys a run takes",
            ) from None

    def to_user_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def sorted_features(self) -> list[FeatureEntry]:
        """Higher priority first, then by name: the order hooks run in."""
        return sorted(self.features, key=lambda f: (-f.priority, f.name))


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
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"feature '{plugin}' returned an invalid run config from on_pre_run: " + "; ".join(problems),
                          plugin=plugin, problems=problems, hint="return the config it was given, with valid changes") \
            from None
