"""The equity curve, streamed to equity.parquet as the run goes (memory does not grow with length).

One row per timestamp of the run's stream (after every candle of that time). Rows are buffered into
chunks of 64k and written without dictionary encoding: float equity barely repeats, so the dictionary
cost 141 ms and 12.8 MB per 1M rows against 33 ms and 4.0 MB plain (shared/reading/perf-profile.md).
The metrics are fed the same chunks, and an evenly thinned copy is kept for the features' on_post_run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .metrics import MetricsAccumulator

EQUITY_SCHEMA = pa.schema([("timestamp", pa.timestamp("ms", tz="UTC")), ("equity", pa.float64())])
_CHUNK = 1 << 16


class EquityWriter:
    def __init__(self, out: Path, metrics: MetricsAccumulator, *, expected_rows: int, sample_points: int) -> None:
        self.out = out
        self.metrics = metrics
        self.sampled = sample_points > 0  # a thinned copy for on_post_run (0: none kept)
        self.step = max(1, -(-expected_rows // sample_points)) if expected_rows and self.sampled else 1
        self.rows = 0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self._sample_ts: list[np.ndarray] = []
        self._sample_eq: list[np.ndarray] = []
        self._last: tuple[int, float] | None = None

    def add(self, timestamp: np.ndarray, equity: np.ndarray, in_position: np.ndarray) -> None:
        if not len(timestamp):
            return
        self._parts.append((timestamp, equity, in_position))
        self._buffered += len(timestamp)
        if self._buffered >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._parts:
            return
        ts = np.concatenate([p[0] for p in self._parts])
        eq = np.concatenate([p[1] for p in self._parts])
        pos = np.concatenate([p[2] for p in self._parts])
        self._parts, self._buffered = [], 0
        if self._writer is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(str(self.out), EQUITY_SCHEMA, use_dictionary=False,
                                            column_encoding={"timestamp": "DELTA_BINARY_PACKED"})
        self._writer.write_table(pa.table({"timestamp": pa.array(ts, pa.timestamp("ms", tz="UTC")),
                                           "equity": eq}, schema=EQUITY_SCHEMA))
        self.metrics.add_equity(ts, eq, pos)
        if self.sampled:
            first = (-self.rows) % self.step
            self._sample_ts.append(ts[first::self.step].copy())  # a copy: a strided view would pin the chunk
            self._sample_eq.append(eq[first::self.step].copy())
        self.rows += len(ts)
        self._last = (int(ts[-1]), float(eq[-1]))

    def finish(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Close equity.parquet (written empty when the run never got a candle) and return the thinned
        curve (the last point always kept) with its step."""
        self._flush()
        if self._writer is None:
            pq.write_table(EQUITY_SCHEMA.empty_table(), str(self.out))
        else:
            self._writer.close()
            self._writer = None
        ts_out = np.concatenate(self._sample_ts) if self._sample_ts else np.empty(0, np.int64)
        eq_out = np.concatenate(self._sample_eq) if self._sample_eq else np.empty(0)
        last = self._last
        if last is not None and (not len(ts_out) or ts_out[-1] != last[0]):
            ts_out, eq_out = np.append(ts_out, last[0]), np.append(eq_out, last[1])
        return ts_out, eq_out, self.step
