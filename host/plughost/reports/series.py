"""The numbers behind a run page's charts, bounded in size whatever the run's length.

Price bars come from the run's `chart.parquet`, which the engine samples while the candles stream
(`executor/chart.py`: at most `MAX_BARS` bars per symbol, indicators at each bar's last candle). A run
written without that file (an older version) is charted from its candle file, read again and grouped by
the same code. The equity curve is thinned to at most 5,000 of its rows, which the engine keeps while the
curve streams (executor/equity_chart.py), so a page of a 1M-candle run stays around a megabyte. Times are
whole seconds (the charting library's unit), UTC. The run's trades are read by `trades.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import PlughostError
from ..executor.chart import CHART_FILE, ChartSampler, SymbolBars, read_chart
from ..executor.chart import MAX_BARS as MAX_BARS
from ..executor.data import CandleChunk, open_candles
from ..executor.equity import PREVIEW_KEY
from ..executor.equity_chart import CHART_KEY, EquityChart, EquityChartSampler
from ..executor.indicators import compute_indicators, parse_indicators
from .trades import Trade as Trade
from .trades import TradeTable as TradeTable
from .trades import fmt_time as fmt_time
from .trades import ms_array
from .trades import read_trades as read_trades

MAX_SYMBOLS = 8          # price charts on a page; the other symbols are named, not drawn
MAX_MARKERS = 2000       # entry/exit markers per symbol (beyond it, every k-th trade is marked)
MAX_TRADE_ROWS = 2000    # rows of the trade table (all trades stay in trades.parquet)
MAX_LABELLED_EXITS = 40  # exit markers carry the trade's P&L up to this many trades on a chart
OVERLAY_TYPES = frozenset({"sma", "ema", "bbands", "wma", "vwap"})  # drawn over the price; others below it

I64 = np.ndarray[Any, np.dtype[np.int64]]


@dataclass
class LoadedCandles:
    """A candle file read once per report (for runs without chart.parquet): a sweep's runs share it."""

    symbols: dict[str, CandleChunk]

    def bars(self, indicators: dict[str, Any] | None) -> dict[str, SymbolBars]:
        """Every symbol's bars with the run's indicators, grouped as the engine groups them."""
        names = list(self.symbols)
        sampler = ChartSampler(names, [len(c) for c in self.symbols.values()])
        specs = parse_indicators(indicators) if indicators else []
        for s, c in enumerate(self.symbols.values()):
            values = compute_indicators(specs, c.high, c.low, c.close) if specs else {}
            sampler.add(s, c.timestamp, c.open, c.high, c.low, c.close,
                        {k: np.asarray(v, dtype=np.float64) for k, v in values.items()})
        return {b.symbol: b for b in sampler.finish()}


@dataclass
class PriceChart:
    symbol: str
    candles: int
    per_bar: int                          # candles grouped into one bar
    bars: dict[str, list[Any]]            # t (s), o, h, l, c
    bars_json: str
    indicators: list[dict[str, Any]]      # {name, pane, t, v}
    markers: list[dict[str, Any]]
    unmarked_trades: int = 0


@dataclass
class RunSeries:
    charts: list[PriceChart] = field(default_factory=list)
    price_note: str | None = None         # why there is no price chart (or only some symbols)
    equity: dict[str, list[Any]] | None = None   # t, equity, dd, and bh when the candles are there
    equity_note: str | None = None
    trades_note: str | None = None
    trades: TradeTable = field(default_factory=lambda: TradeTable.of([]))
    trades_total: int = 0


def _r(values: Any) -> list[float | None]:
    """8 significant digits (enough for any price a chart shows, half the bytes of repr); NaN -> null."""
    a = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (7 - np.floor(np.log10(np.abs(np.where(finite & (a != 0), a, 1.0)))))
        rounded = np.where(finite, np.round(a * scale) / scale, 0.0)
    out: list[float | None] = rounded.tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            out[i] = None
    return out


def read_candles(path: Path, timestamp_unit: str | None = None) -> dict[str, CandleChunk]:
    """Every symbol of a candle file, read and validated as the run read it."""
    source = open_candles(path, timestamp_unit=timestamp_unit)
    out: dict[str, CandleChunk] = {}
    for symbol in source.symbols():
        chunks = list(source.iter_chunks(symbol, rows=1 << 20))
        if not chunks:
            continue
        out[symbol] = CandleChunk(symbol, 0, *(np.concatenate([getattr(c, k) for c in chunks]) for k in
                                               ("timestamp", "open", "high", "low", "close", "volume")))
    return out


_ENTRY = {False: {"position": "belowBar", "shape": "arrowUp", "color": "#16a34a", "text": "L"},
          True: {"position": "aboveBar", "shape": "arrowDown", "color": "#dc2626", "text": "S"}}
_EXIT = {False: {"position": "aboveBar", "shape": "arrowDown", "color": "#2563eb"},
         True: {"position": "belowBar", "shape": "arrowUp", "color": "#2563eb"}}  # by short


def _bar_times(ms: list[int | None], bar_ms: I64) -> list[int]:
    """The time (s) of the bar holding each fill (the first bar for a fill before it); one search for all."""
    at = np.searchsorted(bar_ms, np.asarray([0 if v is None else v for v in ms]), side="right") - 1
    times: list[int] = (bar_ms[np.maximum(at, 0)] // 1000).tolist()
    return times


def _markers(table: TradeTable, rows: list[int], bar_ms: I64) -> tuple[list[dict[str, Any]], int]:
    """An arrow at the bar holding each fill: long entries up (green) below the bar, short entries down
    (red) above it; exits the opposite way in blue, with the trade's P&L as text when there are few trades
    (more would hide the price)."""
    out: list[dict[str, Any]] = []
    label_exits = len(rows) <= MAX_LABELLED_EXITS
    total = len(rows)
    if 2 * total > MAX_MARKERS:  # spread over the whole run rather than crowded at its start
        rows = rows[::-(-2 * total // MAX_MARKERS)]
    entry, exit_ = [table.entry_ms[i] for i in rows], [table.exit_ms[i] for i in rows]
    entry_s, exit_s = _bar_times(entry, bar_ms), _bar_times(exit_, bar_ms)
    for k, i in enumerate(rows):
        short = table.side[i] == "short"
        if entry[k] is not None:
            out.append({"time": entry_s[k], **_ENTRY[short]})
        if exit_[k] is not None:
            pnl = table.pnl[i]
            out.append({"time": exit_s[k], **_EXIT[short],
                        "text": f"{pnl:+.2f}" if label_exits and pnl is not None else ""})
    out.sort(key=lambda m: m["time"])
    return out, total - len(rows)


def price_chart(bars: SymbolBars, indicator_types: dict[str, str], trades: TradeTable) -> PriceChart:
    t = (bars.start_ms // 1000).tolist()
    data = {"t": t, "o": _r(bars.open), "h": _r(bars.high), "l": _r(bars.low), "c": _r(bars.close)}
    lines: list[dict[str, Any]] = []
    for name, values in bars.indicators.items():
        kind = indicator_types.get(name, indicator_types.get(name.split(".")[0], ""))
        lines.append({"name": name, "pane": 0 if kind in OVERLAY_TYPES else 1, "t": t, "v": _r(values)})
    markers, dropped = _markers(trades, trades.rows_of(bars.symbol), bars.start_ms)
    return PriceChart(bars.symbol, bars.candles, bars.per_bar, data,
                      json.dumps(data, separators=(",", ":"), allow_nan=False), lines, markers, dropped)


def equity_chart(path: Path) -> EquityChart:
    """The run page's equity rows: from equity.parquet's footer when the engine stored them there (the file's
    rows are not read), else from the whole file, thinned by the same code (runs of older versions)."""
    with pq.ParquetFile(path) as file:  # not pq.read_table: that imports pyarrow.dataset (~5-60 ms)
        raw = (file.metadata.metadata or {}).get(CHART_KEY)
        stored = EquityChart.from_json(raw) if raw else None
        if stored is not None:
            return stored
        table = file.read(columns=["timestamp", "equity"])
    sampler = EquityChartSampler(table.num_rows)
    sampler.add(ms_array(table.column("timestamp")),
                np.asarray(table.column("equity").to_numpy(zero_copy_only=False), dtype=np.float64))
    return sampler.finish()


def equity_series(path: Path, bars: list[SymbolBars] | None, capital: float) -> dict[str, list[Any]]:
    """The equity curve (the lowest, highest and deepest-drawdown rows of each stretch of it: see
    executor/equity_chart.py), its drawdown and, with the price bars, buy-and-hold of every symbol (each
    symbol's close at the last bar ending at or before the point, over its first close)."""
    chart = equity_chart(path)
    at = chart.ts_ms
    out: dict[str, list[Any]] = {"t": (at // 1000).tolist(), "equity": _r(chart.equity), "dd": _r(chart.drawdown)}
    if bars and len(at):
        ratios = []
        for b in bars:
            i = np.searchsorted(b.end_ms, at, side="right") - 1
            ratios.append(np.where(i >= 0, b.close[np.clip(i, 0, None)] / b.first_close, 1.0))
        out["bh"] = _r(capital * np.mean(ratios, axis=0))
    return out


def equity_preview(path: Path) -> dict[str, list[Any]] | None:
    """The ~600-point curve the engine stored in equity.parquet's metadata (footer only: the overview's
    best-runs chart never reads a whole equity file); None when the file has none or is unreadable."""
    try:
        raw = (pq.read_metadata(path).metadata or {}).get(PREVIEW_KEY)
        data = json.loads(raw) if raw else None
    except (OSError, pa.ArrowException, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), list) or not isinstance(data.get("equity"), list) \
            or len(data["t"]) != len(data["equity"]):
        return None
    return {"t": data["t"], "equity": data["equity"]}


def resolve_candles(candles: str, bases: list[Path]) -> Path | None:
    path = Path(candles).expanduser()
    if path.is_absolute():
        return path if path.is_file() else None
    return next((base / path for base in bases if (base / path).is_file()), None)


def run_series(run_dir: Path, summary: dict[str, Any], bases: list[Path],
               cache: dict[str, LoadedCandles | str] | None = None) -> RunSeries:
    """Everything a run page charts. Never raises for a missing or unreadable file: the page says why."""
    out = RunSeries()
    run_config: dict[str, Any] = summary["run_config"] if isinstance(summary.get("run_config"), dict) else {}
    try:
        out.trades = read_trades(run_dir / "trades.parquet")
    except (OSError, pa.ArrowException, KeyError) as exc:
        out.trades_note = f"trades.parquet could not be read: {exc}"
    out.trades_total = len(out.trades)
    indicators = summary.get("indicators") if isinstance(summary.get("indicators"), dict) \
        else run_config.get("indicators")  # the effective set (plugin.json's + the run's) in newer summaries
    bars = _engine_bars(run_dir, out) or _file_bars(run_config, bases, indicators, cache, out)
    if bars is not None:
        wanted = [s for s in summary.get("symbols") or sorted(bars) if s in bars] or sorted(bars)
        types = {str(name): str(spec.get("type", "")) for name, spec in (indicators or {}).items()
                 if isinstance(spec, dict)}
        for symbol in wanted[:MAX_SYMBOLS]:
            out.charts.append(price_chart(bars[symbol], types, out.trades))
        if len(wanted) > MAX_SYMBOLS:
            out.price_note = (f"price charts of the first {MAX_SYMBOLS} of {len(wanted)} symbols; "
                              f"not drawn: {', '.join(wanted[MAX_SYMBOLS:])}")
    try:
        capital = float(run_config.get("initial_capital") or 10_000.0)
        out.equity = equity_series(run_dir / "equity.parquet", list(bars.values()) if bars else None, capital)
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        out.equity_note = f"equity.parquet unreadable: {exc}"
    if out.equity is not None and not bars:
        out.equity_note = "no buy-and-hold line: " + (out.price_note or "no candles")
    return out


def _engine_bars(run_dir: Path, out: RunSeries) -> dict[str, SymbolBars] | None:
    """The bars the engine kept while streaming (chart.parquet), when the run has them."""
    path = run_dir / CHART_FILE
    if not path.is_file():
        return None
    try:
        return {b.symbol: b for b in read_chart(path)}
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:  # damaged: the candle file
        out.price_note = f"{CHART_FILE} could not be read ({exc}); charted from the candle file"
        return None


def _file_bars(run_config: dict[str, Any], bases: list[Path], indicators: dict[str, Any] | None,
               cache: dict[str, LoadedCandles | str] | None, out: RunSeries) -> dict[str, SymbolBars] | None:
    """Bars from the run's candle file, read again (runs written before chart.parquet existed)."""
    written = str(run_config.get("candles") or "")
    path = resolve_candles(written, bases) if written else None
    if path is None:
        out.price_note = (f"the candle file {written!r} was not found (looked in: "
                          f"{', '.join(str(b) for b in bases)}), so there is no price chart" if written
                          else "the run names no candle file")
        return None
    key = str(path.resolve())
    cached = (cache or {}).get(key)
    if cached is None:
        try:
            cached = LoadedCandles(read_candles(path, run_config.get("timestamp_unit")))
        except (PlughostError, OSError, pa.ArrowException, ValueError) as exc:
            cached = f"the candle file {path} could not be read ({exc}), so there is no price chart"
        if cache is not None:
            cache.clear()  # one file at a time: a sweep's runs share it, and memory stays bounded
            cache[key] = cached
    if isinstance(cached, str):
        out.price_note = cached
        return None
    try:
        return cached.bars(indicators)
    except PlughostError as exc:  # an indicator this version cannot compute: charts without them
        out.price_note = f"indicators not drawn: {exc.message}"
        return cached.bars(None)
