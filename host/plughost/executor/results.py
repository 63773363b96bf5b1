"""A run's files, written whole or not at all: into a hidden temporary folder, then renamed."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from plughost_sdk.orders import TradeRecord

from .summary import RunSummary

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_TIME = pa.timestamp("ms", tz="UTC")
TRADES_SCHEMA = pa.schema([
    ("symbol", pa.string()), ("side", pa.string()), ("entry_time", _TIME), ("entry_price", pa.float64()),
    ("exit_time", _TIME), ("exit_price", pa.float64()), ("size", pa.float64()), ("fees", pa.float64()),
    ("pnl", pa.float64()), ("entry_reason", pa.string()), ("exit_reason", pa.string()),
])
TRADE_COLUMNS = tuple(TRADES_SCHEMA.names)


def json_safe(value: Any) -> Any:
    """NaN/Inf are not JSON: write null, as readers of summary.json expect."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def format_number(value: Any, pattern: str) -> str:
    """A metric as people read it: `pattern` applied; '-' for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    try:
        return pattern.format(value)
    except (TypeError, ValueError):
        return str(value)


def trades_columns(trades: Sequence[TradeRecord]) -> dict[str, list[Any]]:
    """Trades as columns (times as ms integers, as the protocol and the metrics take them)."""
    return {name: [getattr(t, name) for t in trades] for name in TRADE_COLUMNS}


def safe_artifact_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


class RunWriter:
    """Builds a run's folder under a hidden temporary name, then renames it into place in one step."""

    def __init__(self, out_dir: Path, run_id: str) -> None:
        self.runs_dir = out_dir / "runs"
        self.final = self.runs_dir / run_id
        self.tmp = self.runs_dir / f".tmp-{run_id}-{os.getpid()}"
        self.equity_path = self.tmp / "equity.parquet"
        self.spill_path = self.tmp / ".equity-spill.arrow"

    def prepare(self) -> None:
        """A fresh temporary folder; leftovers of this run from a killed host are removed first."""
        prefix = f".tmp-{self.final.name}-"
        for stale in self.runs_dir.glob(prefix + "*"):
            if stale.name[len(prefix):].isdigit():  # only this run's (pid suffix), never run "<id>-x"'s
                shutil.rmtree(stale, ignore_errors=True)
        self.tmp.mkdir(parents=True)

    def write(
        self,
        summary: Mapping[str, Any],
        trades: Sequence[TradeRecord],
        artifacts: Mapping[str, Mapping[str, str | bytes]],
    ) -> Path:
        """Complete the folder (equity.parquet is already there) and publish it."""
        pq.write_table(pa.Table.from_pydict(trades_columns(trades), schema=TRADES_SCHEMA), self.tmp / "trades.parquet")
        for plugin, files in artifacts.items():
            folder = self.tmp / "artifacts" / plugin
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                data = content.encode() if isinstance(content, str) else bytes(content)
                (folder / name).write_bytes(data)
        # summary.json last: a reader that sees it sees a complete run.
        # Checked against the typed record (executor/summary.py): every writer of summary.json agrees.
        record = RunSummary.model_validate(json_safe(summary)).model_dump(mode="json")
        text = json.dumps(record, indent=2, sort_keys=False, allow_nan=False)
        with open(self.tmp / "summary.json", "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return self._publish()

    def _publish(self) -> Path:
        old = None
        if self.final.exists():
            old = self.runs_dir / f".old-{self.final.name}-{os.getpid()}"
            os.rename(self.final, old)
        os.rename(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
