"""The run config as pydantic models: the judge of a run config that `RunConfig`'s quick check does not
pass, and the words of every error. Not imported by a run whose config is plainly valid (pydantic costs
~0.1 s of start-up in every `plughost run`); tests/executor/test_runconfig_quick.py holds the two to the
same answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .runconfig import MAX_MONEY, MAX_SECONDS, MAX_TIMEOUT_S, FeatureEntry, RunConfig


class FeatureEntryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    name: str
    config: dict[str, Any] = Field(default_factory=dict)
    priority: int = 0
    on_error: Literal["continue", "fail"] = Field("continue", alias="onError")
    # This feature's call timeout (seconds) for its hooks and for writing it a notification; None: the
    # run's call_timeout. A slow report may need more, an optional feature deserves less.
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT_S)


class RunConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str | None = None
    strategy: str
    candles: str
    alerts: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    features: list[FeatureEntryModel] = Field(default_factory=list)
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
    sandbox: bool = False  # each plugin in its own namespaces (transport/sandbox.py)

    @field_validator("features", mode="before")
    @classmethod
    def _names_to_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    def record(self) -> RunConfig:
        """The validated config as the engine's record."""
        values = {name: getattr(self, name) for name in RunConfigModel.model_fields}
        values["features"] = [FeatureEntry(**{n: getattr(f, n) for n in FeatureEntryModel.model_fields})
                              for f in self.features]
        return RunConfig(**values)


def model_record(data: Any) -> RunConfig:
    """`data` validated by the model; pydantic's `ValidationError` when it is not a run config."""
    return RunConfigModel.model_validate(data).record()


def problems(data: Any) -> tuple[RunConfig | None, list[tuple[str, str]]]:
    """The config, or every problem as (dotted location, message)."""
    try:
        return model_record(data), []
    except ValidationError as exc:
        return None, [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]


def dump(run: RunConfig, **options: Any) -> dict[str, Any]:
    """`model_dump` of the model holding `run`'s values (for what the quick dump does not do itself)."""
    return RunConfigModel.model_validate(run.to_python()).model_dump(**options)
