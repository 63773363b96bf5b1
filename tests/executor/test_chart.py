"""The run page's price bars, sampled by the engine while the candles stream (executor/chart.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plughost.executor.chart import CHART_FILE, ChartSampler, SymbolBars, read_chart
from plughost.executor.equity import PREVIEW_KEY
from plughost.reports.collect import collect_runs
from plughost.reports.pages import render_run_page
from plughost.reports.series import LoadedCandles, equity_preview, read_candles, run_series
from test_engine import T0, run

FIELDS = ("start_ms", "end_ms", "open", "high", "low", "close")


def _columns(n: int, seed: int, step_ms: int = 60_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return {"ts": T0 + np.arange(n, dtype=np.int64) * step_ms, "o": close * (1 + rng.normal(0, 0.001, n)),
            "h": close * 1.01, "l": close * 0.99, "c": close, "ind": rng.normal(0, 1, n)}


def _sample(cols: dict[str, np.ndarray], cuts: list[int], limit: int) -> SymbolBars:
    n = len(cols["ts"])
    sampler = ChartSampler(["X"], [n], limit)
    for a, b in zip([0, *cuts], [*cuts, n], strict=True):
        sampler.add(0, cols["ts"][a:b], cols["o"][a:b], cols["h"][a:b], cols["l"][a:b], cols["c"][a:b],
                    {"ind": cols["ind"][a:b]})
    return sampler.finish()[0]


def _same(a: SymbolBars, b: SymbolBars) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS) and \
        a.indicators.keys() == b.indicators.keys() and \
        all(np.array_equal(a.indicators[k], b.indicators[k], equal_nan=True) for k in a.indicators)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bars_are_the_same_for_any_chunking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30_000))
    cols = _columns(n, seed)
    whole = _sample(cols, [], 500)
    cuts = sorted(set(rng.integers(0, n, 40).tolist()))
    assert _same(whole, _sample(cols, cuts, 500))
    assert _same(whole, _sample(cols, list(range(1, n)), 500)) if n < 3000 else True  # one candle at a time


def test_a_bar_is_k_consecutive_candles_ohlc_with_the_indicator_at_its_last() -> None:
    n, limit = 10_007, 1000
    cols = _columns(n, 4)
    bars = _sample(cols, [3333, 6000], limit)
    k = -(-n // limit)
    assert bars.per_bar == k and len(bars.start_ms) == -(-n // k) and bars.candles == n
    starts = np.arange(0, n, k)
    ends = np.minimum(starts + k, n) - 1
    assert np.array_equal(bars.start_ms, cols["ts"][starts]) and np.array_equal(bars.end_ms, cols["ts"][ends])
    assert np.array_equal(bars.open, cols["o"][starts]) and np.array_equal(bars.close, cols["c"][ends])
    assert np.array_equal(bars.high, np.maximum.reduceat(cols["h"], starts))
    assert np.array_equal(bars.low, np.minimum.reduceat(cols["l"], starts))
    assert np.array_equal(bars.indicators["ind"], cols["ind"][ends]) and bars.first_close == cols["c"][0]


def test_bars_within_one_second_are_merged_so_times_increase() -> None:
    cols = _columns(5_000, 5, step_ms=250)  # four candles a second, 5 candles a bar before merging
    bars = _sample(cols, [1234], 1000)
    seconds = bars.start_ms // 1000
    assert np.all(np.diff(seconds) > 0)
    assert bars.high.max() == cols["h"].max() and bars.low.min() == cols["l"].min()
    assert bars.close[-1] == cols["c"][-1] and bars.open[0] == cols["o"][0]


def test_a_merged_stream_gives_each_symbol_its_own_bars() -> None:
    a, b = _columns(3000, 6), _columns(2000, 7)
    b["ts"] = b["ts"] + 30_000  # interleaved with A's
    sym = np.array([0] * 3000 + [1] * 2000, np.int32)
    order = np.argsort(np.concatenate([a["ts"], b["ts"]]), kind="stable")
    merged = {k: np.concatenate([a[k], b[k]])[order] for k in a}
    sym = sym[order]
    sampler = ChartSampler(["A", "B"], [3000, 2000], 300)
    for lo in range(0, 5000, 777):
        hi = lo + 777
        sampler.add_batch(sym[lo:hi], merged["ts"][lo:hi], merged["o"][lo:hi], merged["h"][lo:hi],
                          merged["l"][lo:hi], merged["c"][lo:hi], {"ind": merged["ind"][lo:hi]})
    got = {x.symbol: x for x in sampler.finish()}
    assert _same(got["A"], _sample(a, [], 300))
    assert _same(got["B"], _sample(b, [], 300))


def test_the_engine_writes_the_bars_the_candle_file_gives(tmp_path: Path) -> None:
    """chart.parquet of a real run equals the bars the report computes from the candle file (the fallback for
    runs of older versions); the page keeps its charts when the candle file is gone."""
    n = 12_345
    cols = _columns(n, 8)
    candles = tmp_path / "c.parquet"
    pq.write_table(pa.table({"timestamp": cols["ts"], "open": cols["o"], "high": cols["h"], "low": cols["l"],
                             "close": cols["c"], "volume": np.ones(n)}), candles)
    indicators = {"fast": {"type": "sma", "period": 5}, "band": {"type": "bbands", "period": 20}}
    out = run(tmp_path, "sma-cross", candles, batch_size=1000, indicators=indicators)
    assert out.status == "ok" and out.run_dir is not None
    engine = {b.symbol: b for b in read_chart(out.run_dir / CHART_FILE)}
    from_file = LoadedCandles(read_candles(candles)).bars(out.summary["indicators"])
    assert engine.keys() == from_file.keys() == {"c"}
    assert _same(engine["c"], from_file["c"]) and {"fast", "band.upper"} <= set(engine["c"].indicators)
    preview = equity_preview(out.run_dir / "equity.parquet")  # the overview's curve, from the file's footer
    equity = pq.read_table(out.run_dir / "equity.parquet")
    assert preview is not None and 500 <= len(preview["t"]) <= 602 and preview["t"] == sorted(set(preview["t"]))
    assert preview["equity"][-1] == equity.column("equity")[-1].as_py()
    assert preview["t"][-1] == equity.column("timestamp")[-1].value // 1000
    candles.unlink()
    folder = collect_runs(tmp_path / "out")
    series = run_series(out.run_dir, out.summary, folder.base_dirs)
    assert series.price_note is None and len(series.charts) == 1 and series.equity is not None
    assert len(series.equity["bh"]) == len(series.equity["t"])
    (out.run_dir / CHART_FILE).write_bytes(b"not parquet")  # damaged, and no candle file to fall back on
    series = run_series(out.run_dir, out.summary, folder.base_dirs)
    assert series.charts == [] and series.price_note is not None and "c.parquet" in series.price_note
    assert "report-data" in render_run_page(folder, folder.runs[0])  # the page is still written


def test_an_equity_preview_that_is_missing_or_garbage_is_none(tmp_path: Path) -> None:
    """The overview falls back to reading the whole file (runs of older versions, or a hand-edited one)."""
    table = pa.table({"timestamp": pa.array([1, 2], pa.timestamp("ms", tz="UTC")), "equity": [1.0, 2.0]})
    cases = {"none": None, "not-json": b"{oops", "wrong-shape": b'{"t": [1, 2], "equity": [1.0]}',
             "not-a-map": b"[1, 2]"}
    for name, raw in cases.items():
        path = tmp_path / f"{name}.parquet"
        writer = pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table)
        if raw is not None:
            writer.add_key_value_metadata({PREVIEW_KEY: raw})
        writer.close()
        assert equity_preview(path) is None, name
    assert equity_preview(tmp_path / "missing.parquet") is None
