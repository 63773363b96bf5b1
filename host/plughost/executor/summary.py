"""`summary.json` as a typed record: what the engine, the batch host (for runs it fails itself) and the
readers (reports, `plughost results`, the Python API) agree on. Its JSON Schema is committed as
`protocol/summary.schema.json` (a test keeps the two in step), so tools outside Python can read results.

Unknown keys are kept (`extra="allow"`): a newer plughost may add fields, and an older reader must still
load the file. NaN and infinities never reach the file (`RunWriter` writes null for them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_FILE = "summary.schema.json"


class RunErrorRecord(BaseModel):
    """`error` of a failed run: at least `code`, `message` and `plugin` (the contract); more fields
    (`hint`, `hook`, `exit_code`, `stack`, ...) depend on the code."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    plugin: str | None = None


class WarningRecord(BaseModel):
    """One entry of `warnings`: a code (see docs/troubleshooting.md) and what happened."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str | None = None
    plugin: str | None = None


class RunSummary(BaseModel):
    """One run's summary.json. Required fields are the contract's; the rest are plughost's own."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    status: Literal["ok", "failed"]
    strategy: str
    config: dict[str, Any] = Field(description="the strategy's effective config, schema defaults applied")
    error: RunErrorRecord | None
    metrics: dict[str, float | int | None]
    plugin_metrics: dict[str, dict[str, float | int | None]] = Field(default_factory=dict)
    ignored_signals: int = 0
    rejected_signals: int = 0
    rejected_reasons: dict[str, int] = Field(default_factory=dict)
    expired_orders: int = 0
    unmatched_alerts: int = 0
    candles: int = 0
    symbols: list[str] = Field(default_factory=list)
    symbol_from_file_stem: bool = False
    timestamp_unit: str | None = None
    features: list[str] = Field(default_factory=list)
    run_config: dict[str, Any] = Field(default_factory=dict)
    warnings: list[WarningRecord] = Field(default_factory=list)
    started_at: float | None = None
    duration_s: float | None = None
    plughost_version: str | None = None


def schema_text() -> str:
    import json

    return json.dumps(RunSummary.model_json_schema(), indent=2, sort_keys=True) + "\n"
