"""The run page's equity chart (executor/equity_chart.py): kept by the engine while the curve streams, stored in
equity.parquet's footer, and the same when the report thins a file without it (runs of older versions)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plughost.executor.equity_chart import CHART_KEY, MAX_POINTS, EquityChart, EquityChartSampler
from plughost.reports.series import equity_chart, equity_series
from test_engine import T0, run


def _curve(n: int, seed: int, step_ms: int = 60_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return T0 + np.arange(n, dtype=np.int64) * step_ms, 10_000 + np.cumsum(rng.normal(0, 5, n))


def _sample(ts: np.ndarray, eq: np.ndarray, cuts: list[int], expected: int | None = None) -> EquityChart:
    sampler = EquityChartSampler(len(ts) if expected is None else expected)
    for a, b in zip([0, *cuts], [*cuts, len(ts)], strict=True):
        sampler.add(ts[a:b], eq[a:b])
    return sampler.finish()


def _drawdown(eq: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(eq)
    return (eq / peak - 1.0) * 100.0


def _same(a: EquityChart, b: EquityChart) -> bool:
    return a.rows == b.rows and np.array_equal(a.ts_ms, b.ts_ms) and \
        np.array_equal(a.equity, b.equity, equal_nan=True) and np.array_equal(a.drawdown, b.drawdown, equal_nan=True)


@pytest.mark.parametrize(("n", "expected"), [(1, None), (7, None), (40_000, None), (250_000, None),
                                             (90_000, 1_000), (60_000, 600_000)])
def test_thinning_keeps_the_lowest_highest_deepest_first_and_last_rows(n: int, expected: int | None) -> None:
    """Also when the engine's guess of the row count is far off (too few: coarser groups as it goes; too many:
    finer groups merged at the end), the chart stays bounded and every point is a real row of the curve."""
    ts, eq = _curve(n, n)
    chart = _sample(ts, eq, [n // 3, n // 3 + 1, 2 * n // 3] if n > 3 else [], expected)
    dd = _drawdown(eq)
    assert len(chart.ts_ms) <= MAX_POINTS and chart.rows == n
    assert np.all(np.diff(chart.ts_ms // 1000) > 0)  # whole seconds, increasing: the chart's time axis
    rows = np.searchsorted(ts, chart.ts_ms)
    assert np.array_equal(ts[rows], chart.ts_ms) and np.array_equal(eq[rows], chart.equity)
    assert np.allclose(dd[rows], chart.drawdown, rtol=0, atol=1e-9)
    assert chart.equity.min() == eq.min() and chart.equity.max() == eq.max()
    assert chart.drawdown.min() == pytest.approx(dd.min(), abs=1e-9)
    assert chart.equity[0] == eq[0] and chart.equity[-1] == eq[-1] and chart.ts_ms[-1] == ts[-1]  # exact ends
    if n >= 40_000:
        assert len(chart.ts_ms) > 2_000  # not thinner than needed


def test_every_stretch_keeps_its_dip_and_its_spike() -> None:
    """A one-row dip and a one-row spike in each tenth of a long flat curve are all drawn."""
    n = 200_000
    ts, eq = T0 + np.arange(n, dtype=np.int64) * 1000, np.full(n, 1000.0)
    dips, spikes = np.arange(n // 20, n, n // 10), np.arange(n // 10 - 7, n, n // 10)
    eq[dips], eq[spikes] = 500.0 + np.arange(10), 2000.0 - np.arange(10)
    chart = _sample(ts, eq, [65_536, 131_072])
    assert set(eq[dips]) | set(eq[spikes]) <= set(chart.equity.tolist())
    assert set((ts[dips] // 1000).tolist()) <= set((chart.ts_ms // 1000).tolist())


@pytest.mark.parametrize("seed", [1, 2])
def test_the_chart_is_the_same_for_any_chunking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50_000, 120_000))
    ts, eq = _curve(n, seed)
    whole = _sample(ts, eq, [])
    assert _same(whole, _sample(ts, eq, sorted(set(rng.integers(1, n, 30).tolist()))))
    assert _same(whole, _sample(ts, eq, list(range(0, n, 65_536))[1:]))
    assert _same(_sample(ts, eq, [], 1_000), _sample(ts, eq, list(range(0, n, 4_096))[1:], 1_000))


def test_rows_within_one_second_are_one_point_latest_equity_deepest_drawdown() -> None:
    ts = np.array([0, 100, 900, 1000, 1500, 2999], dtype=np.int64) + T0
    eq = np.array([100.0, 90.0, 95.0, 120.0, 60.0, 80.0])
    chart = _sample(ts, eq, [2])
    assert (chart.ts_ms // 1000 - T0 // 1000).tolist() == [0, 1, 2]
    assert chart.equity.tolist() == [95.0, 60.0, 80.0]
    assert chart.drawdown.tolist() == pytest.approx([-10.0, -50.0, (80 / 120 - 1) * 100])


def test_missing_equity_is_never_an_extreme_and_survives_the_footer() -> None:
    ts, eq = _curve(5_000, 3)
    eq[[10, 2_000, 4_999]] = np.nan
    chart = _sample(ts, eq, [2_000])
    finite = chart.equity[np.isfinite(chart.equity)]
    assert finite.min() == np.nanmin(eq) and finite.max() == np.nanmax(eq)
    assert np.isnan(chart.equity[-1])  # the last row is the last row, even when it is missing
    data = json.loads(chart.to_json())
    assert data["rows"] == 5_000 and len(base64.b64decode(data["t"])) == 8 * len(chart.ts_ms)
    back = EquityChart.from_json(chart.to_json())
    assert back is not None and _same(back, chart)


_ONE, _TWO = base64.b64encode(bytes(8)).decode(), base64.b64encode(bytes(16)).decode()


@pytest.mark.parametrize("raw", [b"{oops", b"[1, 2]", b'{"rows": 2, "t": [1, 2], "equity": [1.0], "dd": [0, 0]}',
                                 f'{{"rows": 2, "t": "{_TWO}", "equity": "{_ONE}", "dd": "{_TWO}"}}'.encode(),
                                 f'{{"rows": 1, "t": "{_ONE}", "equity": "AAA", "dd": "{_ONE}"}}'.encode(),
                                 f'{{"rows": 1, "t": "{_ONE}", "equity": "{_ONE}"}}'.encode(),
                                 f'{{"rows": "1", "t": "{_ONE}", "equity": "{_ONE}", "dd": "{_ONE}"}}'.encode()])
def test_a_damaged_footer_is_ignored_and_the_file_is_read(tmp_path: Path, raw: bytes) -> None:
    ts, eq = _curve(3_000, 4)
    table = pa.table({"timestamp": pa.array(ts, pa.timestamp("ms", tz="UTC")), "equity": eq})
    path = tmp_path / "equity.parquet"
    with pq.ParquetWriter(str(path), table.schema) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({CHART_KEY: raw})
    assert EquityChart.from_json(raw) is None
    assert _same(equity_chart(path), _sample(ts, eq, []))


def test_the_engine_stores_the_chart_the_file_gives(tmp_path: Path) -> None:
    """A real run's footer equals what the report computes from the whole file (a run of an older version),
    so the page is the same either way; the page reads no row of the file when the footer has it."""
    n = 23_456
    ts, close = _curve(n, 9)
    close = close / 100.0
    candles = tmp_path / "c.parquet"
    pq.write_table(pa.table({"timestamp": ts, "open": close, "high": close * 1.01, "low": close * 0.99,
                             "close": close, "volume": np.ones(n)}), candles)
    out = run(tmp_path, "sma-cross", candles, batch_size=1000)
    assert out.status == "ok" and out.run_dir is not None
    path = out.run_dir / "equity.parquet"
    raw = (pq.read_metadata(path).metadata or {})[CHART_KEY]
    stored = EquityChart.from_json(raw)
    table = pq.read_table(path)
    old_format = tmp_path / "old.parquet"
    pq.write_table(table.replace_schema_metadata(None), old_format)
    assert stored is not None and _same(stored, equity_chart(old_format))
    assert equity_series(path, None, 10_000.0) == equity_series(old_format, None, 10_000.0)
    assert stored.equity[-1] == table.column("equity")[-1].as_py()
    with pq.ParquetWriter(str(path), table.schema) as writer:  # the footer alone: the rows are not needed
        writer.write_table(table.slice(0, 0))
        writer.add_key_value_metadata({CHART_KEY: raw})
    assert _same(equity_chart(path), stored)


_REPORT_PROBE = """
import sys
from pathlib import Path


class NoPandas:  # as `plughost run` writes its report (cli/run.py `_without_pandas`)
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(name)


sys.meta_path.insert(0, NoPandas())
from plughost.reports import write_reports

write_reports(Path(sys.argv[1]))
print(sorted(m for m in ("pyarrow.compute", "pyarrow.dataset") if m in sys.modules))
"""


def test_the_report_of_an_engine_run_needs_no_arrow_cast_nor_dataset(tmp_path: Path) -> None:
    """The engine's result files (float64 numbers, timestamp[ms] times, the equity footer) are read without
    pyarrow.compute (~40 ms to import) and without pq.read_table's pyarrow.dataset (~5-60 ms)."""
    ts, close = _curve(3_000, 5)
    candles = tmp_path / "c.parquet"
    pq.write_table(pa.table({"timestamp": ts, "open": close / 100, "high": close / 99, "low": close / 101,
                             "close": close / 100, "volume": np.ones(len(ts))}), candles)
    out = run(tmp_path, "sma-cross", candles, batch_size=500)
    assert out.status == "ok" and out.run_dir is not None
    (out.run_dir / "report.html").unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", _REPORT_PROBE, str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "report-data" in (out.run_dir / "report.html").read_text()
