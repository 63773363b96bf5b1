"""The equity curve, streamed to equity.parquet as the run goes (memory does not grow with length).

One row per timestamp of the run's stream (after every candle of that time). Rows are buffered into
chunks of 64k and written without dictionary encoding: float equity barely repeats, so the dictionary
cost 141 ms and 12.8 MB per 1M rows against 33 ms and 4.0 MB plain (shared/reading/perf-profile.md).
The metrics are fed the same chunks, and an evenly thinned copy is kept for the features' on_post_run;
the footer carries the overview's ~600-point preview and the run page's equity chart (equity_chart.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .equity_chart import CHART_KEY, EquityChartSampler
from .metrics import MetricsAccumulator

EQUITY_SCHEMA = pa.schema([("timestamp", pa.timestamp("ms", tz="UTC")), ("equity", pa.float64())])
_CHUNK = 1 << 16


PREVIEW_KEY = b"plughost.preview"  # key-value metadata of equity.parquet: the curve in ~600 points
PREVIEW_POINTS = 600


class _EvenSample:
    """Every `step`-th row of the stream, step chosen so that `points` rows are kept; the stream's last
    row is added at the end."""

    def __init__(self, expected_rows: int, points: int) -> None:
        self.step = max(1, -(-expected_rows // points)) if expected_rows else 1
        self.rows = 0
        self._ts: list[np.ndarray] = []
        self._eq: list[np.ndarray] = []

    def add(self, ts: np.ndarray, eq: np.ndarray) -> None:
        first = (-self.rows) % self.step
        self._ts.append(ts[first::self.step].copy())  # a copy: a strided view would pin the chunk
        self._eq.append(eq[first::self.step].copy())
        self.rows += len(ts)

    def finish(self, last: tuple[int, float] | None) -> tuple[np.ndarray, np.ndarray]:
        ts = np.concatenate(self._ts) if self._ts else np.empty(0, np.int64)
        eq = np.concatenate(self._eq) if self._eq else np.empty(0)
        if last is not None and (not len(ts) or ts[-1] != last[0]):
            ts, eq = np.append(ts, last[0]), np.append(eq, last[1])
        return ts, eq


class EquityWriter:
    def __init__(self, out: Path, metrics: MetricsAccumulator, *, expected_rows: int, sample_points: int) -> None:
        self.out = out
        self.metrics = metrics
        # a thinned copy for on_post_run (sample_points 0: none kept), and a small one for the reports'
        # overview, which would otherwise read every best run's whole equity.parquet
        self.sample = _EvenSample(expected_rows, sample_points) if sample_points > 0 else None
        self.preview = _EvenSample(expected_rows, PREVIEW_POINTS)
        self.chart = EquityChartSampler(expected_rows)  # the run page's equity chart (equity_chart.py)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
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
        if self.sample is not None:
            self.sample.add(ts, eq)
        self.preview.add(ts, eq)
        self.chart.add(ts, eq)
        self._last = (int(ts[-1]), float(eq[-1]))

    def finish(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Close equity.parquet (written empty when the run never got a candle; the preview in its
        metadata) and return the on_post_run curve (the last point always kept) with its step."""
        self._flush()
        if self._writer is None:
            pq.write_table(EQUITY_SCHEMA.empty_table(), str(self.out))
        else:
            ts, eq = self.preview.finish(self._last)
            preview = {"t": (ts // 1000).tolist(), "equity": [v if math.isfinite(v) else None for v in eq.tolist()]}
            self._writer.add_key_value_metadata({PREVIEW_KEY: json.dumps(preview, separators=(",", ":")),
                                                 CHART_KEY: self.chart.finish().to_json()})
            self._writer.close()
            self._writer = None
        if self.sample is None:
            return np.empty(0, np.int64), np.empty(0), 1
        ts_out, eq_out = self.sample.finish(self._last)
        return ts_out, eq_out, self.sample.step
