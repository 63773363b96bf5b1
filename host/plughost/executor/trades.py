"""Closed trades, streamed to trades.parquet as the run goes (memory does not grow with their number).

The ledger hands over each batch's closed trades; they are written in chunks, and only what the metrics
need (P&L, entry and exit times: 24 bytes a trade) is kept. The full records are kept as well only when a
feature may receive them in on_post_run. (Why: kept as Python records, 128k trades of a 10M-candle run
held ~50 MB, most of the host's growth between 1M and 10M candles.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from plughost_sdk.orders import TradeRecord

from .results import TRADES_SCHEMA, trades_columns

_CHUNK = 8192


class TradeLog:
    def __init__(self, out: Path, *, keep_records: bool) -> None:
        self.out = out
        self.keep_records = keep_records
        self.records: list[TradeRecord] = []  # all of them, only with keep_records
        self.count = 0
        self._pending: list[TradeRecord] = []
        self._pnl: list[np.ndarray] = []
        self._entry: list[np.ndarray] = []
        self._exit: list[np.ndarray] = []
        self._writer: pq.ParquetWriter | None = None

    def add(self, trades: Sequence[TradeRecord]) -> None:
        if not trades:
            return
        self.count += len(trades)
        self._pending.extend(trades)
        if self.keep_records:
            self.records.extend(trades)
        if len(self._pending) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        columns = trades_columns(self._pending)
        self._pending = []
        self._pnl.append(np.asarray(columns["pnl"], dtype=np.float64))
        self._entry.append(np.asarray(columns["entry_time"], dtype=np.int64))
        self._exit.append(np.asarray(columns["exit_time"], dtype=np.int64))
        if self._writer is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(str(self.out), TRADES_SCHEMA)
        self._writer.write_table(pa.Table.from_pydict(columns, schema=TRADES_SCHEMA))

    def finish(self) -> dict[str, Any]:
        """Close trades.parquet (written empty when no trade closed); returns the columns the metrics take."""
        self._flush()
        if self._writer is None:
            pq.write_table(TRADES_SCHEMA.empty_table(), str(self.out))
        else:
            self._writer.close()
            self._writer = None

        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.empty(0, dtype)

        return {"pnl": cat(self._pnl, np.float64), "entry_time": cat(self._entry, np.int64),
                "exit_time": cat(self._exit, np.int64)}


__all__ = ["TradeLog"]
