"""The equity curve, without holding it in memory.

The loop hands over each batch's marked P&L as it goes; they are spilled to an Arrow IPC file in the
run's temporary folder. At the end the portfolio curve (capital + every symbol's P&L carried forward)
is streamed into equity.parquet and the metrics accumulator, so a 10M-candle run needs memory for one
batch, not the whole curve. A multi-symbol run merges its symbols by time in memory (documented in
docs/performance.md): their curves must be summed on the union of their timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .metrics import MetricsAccumulator

_SPILL_SCHEMA = pa.schema([("symbol", pa.int32()), ("timestamp", pa.int64()), ("pnl", pa.float64()),
                           ("in_position", pa.bool_())])
EQUITY_SCHEMA = pa.schema([("timestamp", pa.int64()), ("equity", pa.float64())])
_CHUNK = 1 << 16


class EquityRecorder:
    def __init__(self, spill: Path) -> None:
        self.spill = spill
        self.symbols: list[str] = []
        self.rows = 0
        self._sink: pa.OSFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def add(self, symbol: str, timestamp: np.ndarray, pnl: np.ndarray, in_position: np.ndarray) -> None:
        if not self.symbols or self.symbols[-1] != symbol:
            self.symbols.append(symbol)
        if self._writer is None:
            self.spill.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(self.spill), "wb")
            self._writer = pa.ipc.new_stream(self._sink, _SPILL_SCHEMA)
        code = np.full(len(timestamp), len(self.symbols) - 1, np.int32)
        self._writer.write_batch(pa.record_batch([code, timestamp, pnl, in_position], schema=_SPILL_SCHEMA))
        self.rows += len(timestamp)

    def _close_spill(self) -> None:
        if self._writer is not None and self._sink is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None

    def _spilled(self) -> Iterator[pa.RecordBatch]:
        if not self.spill.exists():
            return
        with pa.OSFile(str(self.spill)) as source:  # not memory_map: mapped pages would count as RSS
            yield from pa.ipc.open_stream(source)

    def _portfolio(self, capital: float) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(timestamp, equity, in_position) chunks of the portfolio curve, in time order."""
        if len(self.symbols) <= 1:
            for batch in self._spilled():
                ts, pnl, pos = (batch.column(i).to_numpy(zero_copy_only=False) for i in (1, 2, 3))
                yield ts, capital + pnl, pos
            return
        table = pa.Table.from_batches(list(self._spilled()), schema=_SPILL_SCHEMA)
        code = table.column("symbol").to_numpy()
        ts_all = table.column("timestamp").to_numpy()
        pnl_all = table.column("pnl").to_numpy()
        pos_all = table.column("in_position").to_numpy(zero_copy_only=False)
        times = np.unique(ts_all)
        total = np.zeros(len(times))
        in_pos = np.zeros(len(times), bool)
        for k in range(len(self.symbols)):
            mask = code == k
            ts, pnl, pos = ts_all[mask], pnl_all[mask], pos_all[mask]
            if not len(ts):
                continue
            idx = np.searchsorted(ts, times, side="right") - 1
            seen = idx >= 0
            total[seen] += pnl[idx[seen]]  # a symbol's P&L stays after its last candle
            in_pos[seen] |= pos[idx[seen]] & (times[seen] <= ts[-1])
        for start in range(0, len(times), _CHUNK):
            stop = start + _CHUNK
            yield times[start:stop], capital + total[start:stop], in_pos[start:stop]

    def finish(self, capital: float, out: Path, metrics: MetricsAccumulator,
               sample_points: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Write `out` (equity.parquet), feed `metrics`, and return an evenly thinned copy of the curve
        (at most about `sample_points` points, the last one always kept) with its step."""
        self._close_spill()
        step = max(1, -(-self.rows // sample_points)) if self.rows else 1
        sample_ts: list[np.ndarray] = []
        sample_eq: list[np.ndarray] = []
        position = 0
        last: tuple[int, float] | None = None
        with pq.ParquetWriter(str(out), EQUITY_SCHEMA) as writer:
            for ts, equity, pos in self._portfolio(capital):
                writer.write_table(pa.table({"timestamp": ts, "equity": equity}, schema=EQUITY_SCHEMA))
                metrics.add_equity(ts, equity, pos)
                first = (-position) % step
                sample_ts.append(ts[first::step].copy())  # a copy: a strided view would pin the whole chunk
                sample_eq.append(equity[first::step].copy())
                position += len(ts)
                last = (int(ts[-1]), float(equity[-1]))
        self.spill.unlink(missing_ok=True)
        ts_out = np.concatenate(sample_ts) if sample_ts else np.empty(0, np.int64)
        eq_out = np.concatenate(sample_eq) if sample_eq else np.empty(0)
        if last is not None and (not len(ts_out) or ts_out[-1] != last[0]):
            ts_out, eq_out = np.append(ts_out, last[0]), np.append(eq_out, last[1])
        return ts_out, eq_out, step
