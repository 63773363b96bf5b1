"""Write a results folder's HTML: `DIR/report.html` (the overview) and `DIR/runs/<run_id>/report.html`
(one page per run). Pages are Jinja2 templates (autoescaped) with the charting library, the CSS, the
script and the data inlined, so each file works alone, offline, and the folder can be moved: every link
between pages is relative.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import pyarrow as pa
from markupsafe import Markup

from .._version import __version__
from ..batch.journal import Journal
from ..executor.gcpause import collector_paused
from ..executor.results import format_number
from ..safefile import atomic_write
from .collect import LOWER_IS_BETTER, ResultsFolder, RunRecord, collect_runs
from .series import MAX_TRADE_ROWS, LoadedCandles, equity_preview, equity_series, run_series
from .trades import Trade, TradeTable, fmt_time

ASSETS = Path(__file__).parent / "assets"
CHART_LIBRARY = "lightweight-charts.standalone.production.js"
TAIL_CHARS = 4000
BEST_RUNS = 5
BEST_RUN_POINTS = 600
# Columns of the overview's runs table (when some run has them); every metric can be ranked by.
TABLE_METRICS = ("num_trades", "total_pnl", "return_pct", "buy_and_hold_return_pct", "cagr", "win_rate",
                 "profit_factor", "max_drawdown", "sharpe", "sortino", "calmar", "exposure")
LABELS = {
    "num_trades": "trades", "total_pnl": "P&L", "return_pct": "return %", "buy_and_hold_return_pct": "B&H %",
    "cagr": "CAGR %", "win_rate": "win rate", "profit_factor": "profit factor", "max_drawdown": "max DD %",
    "max_drawdown_abs": "max DD", "sharpe": "sharpe", "sortino": "sortino", "calmar": "calmar",
    "exposure": "exposure %", "avg_trade_pnl": "avg trade", "best_trade": "best trade", "worst_trade": "worst trade",
    "final_equity": "final equity", "avg_holding_ms": "avg holding",
}
FORMATS = {"num_trades": "{:.0f}", "return_pct": "{:+.2f}", "buy_and_hold_return_pct": "{:+.2f}", "cagr": "{:+.2f}",
           "win_rate": "{:.1%}", "max_drawdown": "{:.2f}", "exposure": "{:.1f}", "avg_holding_ms": "{:,.0f}"}


def fmt_duration(ms: float) -> str:
    """2926071 -> '48m 46s': the two largest units."""
    seconds = ms / 1000.0
    units = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
    for (name, size), (small, small_size) in itertools.pairwise(units):
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            return f"{whole:.0f}{name} {rest // small_size:.0f}{small}"
    return f"{seconds:.1f}s"


def fmt_metric(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if name == "avg_holding_ms" and math.isfinite(value):
        return fmt_duration(float(value))
    return format_number(value, FORMATS.get(name, "{:,.4g}" if abs(value) < 1e4 else "{:,.2f}"))


def num_attr(value: Any) -> str:
    """A cell's sort key: the number itself, '' when there is none (sorted last)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    return repr(float(value))


TEMPLATE_BYTECODE = Path(__file__).parent / "templates" / "__jinja__"


class _Precompiled(jinja2.BytecodeCache):
    """The templates' bytecode as `make setup` compiled it (`precompile_templates`), read and never written
    at run time (nothing outside --out is written). Compiling the two page templates costs ~0.1 s of every
    `plughost run` otherwise; a template changed since is compiled as usual (its checksum differs)."""

    def __init__(self, folder: Path, *, write: bool = False) -> None:
        self.folder = folder
        self.write = write

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        path = self.folder / f"{bucket.key}.cache"
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            bucket.load_bytecode(fh)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if self.write:
            self.folder.mkdir(exist_ok=True)
            with open(self.folder / f"{bucket.key}.cache", "wb") as fh:
                bucket.write_bytecode(fh)


def precompile_templates() -> None:
    """Write the templates' bytecode beside them (run by `make setup`)."""
    env = _make_env(_Precompiled(TEMPLATE_BYTECODE, write=True))
    for name in env.list_templates(filter_func=lambda name: not name.startswith("__")):
        env.get_template(name)


@functools.cache
def _env() -> jinja2.Environment:
    return _make_env(_Precompiled(TEMPLATE_BYTECODE))


def _make_env(cache: jinja2.BytecodeCache) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("plughost.reports", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             bytecode_cache=cache)
    env.filters["metric"] = fmt_metric
    env.filters["num_attr"] = num_attr
    env.filters["when"] = fmt_time
    env.filters["fmt"] = format_number
    env.filters["label"] = lambda name: LABELS.get(name, name)
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str)
    env.filters["url"] = lambda s: quote(str(s))
    env.globals["chart_library"] = _library
    return env


@functools.cache
def _library() -> str:
    text = (ASSETS / CHART_LIBRARY).read_text(encoding="utf-8")
    assert "</script" not in text.lower()  # inlined in a <script> element
    return text


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)


def _script_json(text: str) -> str:
    """JSON text safe inside <script type="application/json"> (escaped as Jinja's tojson does; the template
    marks it safe)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


def _tail(error: dict[str, Any] | None) -> str:
    err = error or {}
    tail = str(err.get("traceback") or "") + str(err.get("stderr_tail") or "")
    return ("..." + tail[-TAIL_CHARS:]) if len(tail) > TAIL_CHARS else tail


def _artifacts(run_dir: Path) -> list[tuple[str, str, int]]:
    """(plugin, relative link, bytes) of every file under runs/<id>/artifacts/."""
    root = run_dir / "artifacts"
    if not root.is_dir():
        return []
    return [(p.relative_to(root).parts[0], "/".join(quote(part) for part in p.relative_to(run_dir).parts),
             p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()]


# ------------------------------------------------------------------------------------------ run page
def table_rows(trades: TradeTable) -> list[int]:
    """Indices of the trade table's rows: all of them up to MAX_TRADE_ROWS; beyond, the first half of that
    many by time plus the best and worst quarter of the rest by P&L (what sorting would bring up)."""
    if len(trades) <= MAX_TRADE_ROWS:
        return list(range(len(trades)))
    head = MAX_TRADE_ROWS // 2
    pnl = np.array([v or 0.0 for v in trades.pnl[head:]], dtype=np.float64)
    rest = (np.argsort(pnl, kind="stable") + head).tolist()  # stable: ties keep their time order
    quarter = MAX_TRADE_ROWS // 4
    return sorted({*range(head), *rest[:quarter], *rest[-quarter:]})


def table_trades(trades: TradeTable) -> list[tuple[int, Trade]]:
    """(number, trade) of each row of the trade table (`table_rows`)."""
    return [(i + 1, trades[i]) for i in table_rows(trades)]


def _times(ms: list[int | None]) -> list[str]:
    """`fmt_time` of each value, formatted by numpy at once (two per row of the trade table)."""
    values = np.array([0 if v is None else v for v in ms], dtype=np.int64) if ms else np.empty(0, np.int64)
    # whole seconds, except a time within the first second of a minute that has milliseconds (fmt_time)
    text = np.datetime_as_string(values.astype("datetime64[ms]"), unit="ms").tolist()
    sub = ((values % 1000 != 0) & (values // 1000 % 60 == 0)).tolist()
    out = [f"{t[:10]} {t[11:23] if s else t[11:19]}" for t, s in zip(text, sub, strict=True)]
    for k, v in enumerate(ms):
        if v is None or not 0 <= v < _YEAR_10000_MS or type(v) is not int:  # what numpy would spell otherwise
            out[k] = fmt_time(v)
    return out


_YEAR_10000_MS = 253_402_300_800_000
_EXACT = 10**15  # integers below this are exact floats whose repr is the integer and ".0"


def _escape(text: str) -> str:
    """html.escape's five replacements (the `html` package also imports its entity tables: ~3 ms)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") \
        .replace("'", "&#x27;")


def _num_cells(values: list[Any], pattern: str) -> list[str]:
    """`<td>` cells of numbers: the sort key (`num_attr`) and the text (`format_number`)."""
    fmt = pattern.format
    return [f'<td class="num" data-v="{v!r}">{fmt(v)}</td>' if type(v) is float and math.isfinite(v)
            else f'<td class="num" data-v="{num_attr(v)}">{format_number(v, pattern)}</td>' for v in values]


def trade_rows(trades: TradeTable, keep: list[int]) -> Markup:
    """The trade table's rows (`keep`: indices into `trades`). Built here rather than in the template, and a
    column at a time: Jinja's per-cell filters and escaping cost ~0.1 s per 2,000 rows, and a Python call per
    cell ~0.03 s; this is most of writing a run page."""
    def col(values: list[Any]) -> list[Any]:
        return [values[i] for i in keep]

    def esc(values: list[str]) -> list[str]:  # the text fields (a few distinct values each, escaped once)
        return list(map({v: _escape(v) for v in set(values)}.__getitem__, values))

    def time_key(values: list[int | None]) -> list[str]:  # num_attr of whole milliseconds, without a call each
        return [f"{v}.0" if type(v) is int and -_EXACT < v < _EXACT else num_attr(v) for v in values]

    entry, exit_, side, pnl = col(trades.entry_ms), col(trades.exit_ms), col(trades.side), col(trades.pnl)
    price, size = col(trades.entry_price), col(trades.size)
    returns = [Trade.percent(p, e, q) for p, e, q in zip(pnl, price, size, strict=True)]
    columns = zip(
        (k + 1 for k in keep), esc(col(trades.symbol)), ["failed" if v == "short" else "ok" for v in side], esc(side),
        entry, exit_, time_key(entry), time_key(exit_), _times(entry), _times(exit_),
        _num_cells(price, "{:,.6g}"), _num_cells(col(trades.exit_price), "{:,.6g}"), _num_cells(size, "{:,.6g}"),
        _num_cells(col(trades.fees), "{:,.4f}"), _num_cells(pnl, "{:+,.2f}"), _num_cells(returns, "{:+.2f}"),
        esc(col(trades.entry_reason)), esc(col(trades.exit_reason)), strict=True)
    return Markup("".join(
        f'<tr class="clickable" data-entry="{"" if e is None else e}" data-exit="{"" if x is None else x}" '
        f'data-symbol="{sym}">\n'
        f'<td class="num" data-v="{number}">{number}</td><td>{sym}</td><td class="{cls}">{sd}</td>\n'
        f'<td data-v="{ek}">{et}</td>{ep}\n<td data-v="{xk}">{xt}</td>{xp}\n'
        f'{qty}{fee}\n{pl}{ret}\n<td>{er}</td><td>{xr}</td>\n</tr>\n'
        for number, sym, cls, sd, e, x, ek, xk, et, xt, ep, xp, qty, fee, pl, ret, er, xr in columns))


def render_run_page(folder: ResultsFolder, record: RunRecord, cache: dict[str, Any] | None = None,
                    equity_seen: dict[Path, dict[str, list[Any]]] | None = None) -> str:
    """One run's page. `cache`: a candle file shared by the runs of one report; `equity_seen` collects each
    run's thinned equity curve for the overview (which would otherwise read equity.parquet again)."""
    summary = record.summary or {}
    ok = record.status == "ok"
    series = run_series(record.run_dir, summary, folder.base_dirs, cache) if ok else None
    if series is not None and series.equity is not None and equity_seen is not None:
        equity_seen[record.run_dir] = series.equity
    trades = table_rows(series.trades) if series else []
    charts = ",".join(
        f'{{"symbol":{_dumps(c.symbol)},"bars":{c.bars_json},"indicators":{_dumps(c.indicators)},'
        f'"markers":{_dumps(c.markers)}}}' for c in (series.charts if series else []))
    data_json = f'{{"charts":[{charts}],"equity":{_dumps(series.equity if series else None)}}}'
    metrics = [(k, v) for k, v in (record.metrics or {}).items()]
    return _env().get_template("run.html.j2").render(
        title=f"{record.run_id}: {record.strategy}", run=record, summary=summary, ok=ok, series=series,
        trades=trades, trade_rows=trade_rows(series.trades, trades) if series else Markup(), metrics=metrics,
        tail=_tail(record.error), artifacts=_artifacts(record.run_dir),
        data_json=_script_json(data_json), run_config=summary.get("run_config") or {}, version=__version__,
        generated=time.strftime("%Y-%m-%d %H:%M:%S"), counts={k: summary.get(k) for k in (
            "candles", "ignored_signals", "rejected_signals", "expired_orders", "unmatched_alerts")},
    )


# ------------------------------------------------------------------------------------------ overview
def _best_equity(folder: ResultsFolder, seen: dict[Path, dict[str, list[Any]]]) -> list[dict[str, Any]]:
    best = [r for r in folder.ranked("return_pct") if r.metric("return_pct") is not None][:BEST_RUNS]
    out = []
    for r in best:
        eq = seen.get(r.run_dir) or equity_preview(r.run_dir / "equity.parquet")
        if eq is None:  # a run written before equity.parquet carried its preview
            try:
                eq = equity_series(r.run_dir / "equity.parquet", None, 0.0)
            except (OSError, pa.ArrowException, KeyError, ValueError):
                continue
        step = max(1, -(-len(eq["t"]) // BEST_RUN_POINTS))
        t, v = eq["t"][::step], eq["equity"][::step]
        if eq["t"] and t[-1] != eq["t"][-1]:
            t, v = [*t, eq["t"][-1]], [*v, eq["equity"][-1]]
        out.append({"id": r.run_id, "label": f"{r.run_id} ({r.metric('return_pct'):+.2f}%)", "t": t, "v": v})
    return out


def render_overview(folder: ResultsFolder, title: str,
                    equity_seen: dict[Path, dict[str, list[Any]]] | None = None) -> str:
    runs = folder.runs
    metric_names = folder.metric_names()
    table_metrics = [m for m in TABLE_METRICS if m in metric_names]
    plugin_keys = sorted({f"{p}: {k}" for r in runs for p, vals in r.plugin_metrics.items()
                          if isinstance(vals, dict) for k in vals})
    data = {
        "runs": [{"id": r.run_id, "status": r.status, "href": f"runs/{quote(r.run_id)}/report.html"
                  if r.has_files else None, "params": r.params, "metrics": r.metrics or {}} for r in runs],
        "params": folder.param_keys, "metrics": metric_names, "labels": {m: LABELS.get(m, m) for m in metric_names},
        "lower_is_better": sorted(LOWER_IS_BETTER), "best": _best_equity(folder, equity_seen or {}),
    }
    failed = [r for r in runs if r.status == "failed"]
    return _env().get_template("overview.html.j2").render(
        title=title, folder=folder, runs=runs, failed=failed, table_metrics=table_metrics,
        metric_names=metric_names, plugin_keys=plugin_keys, data=data, tail=_tail,
        data_json=_script_json(_dumps(_json_safe(data))),
        counts={"all": len(runs), "ok": sum(r.status == "ok" for r in runs), "failed": len(failed),
                "other": sum(r.status not in ("ok", "failed") for r in runs)},
        flat_plugin=lambda r: {f"{p}: {k}": v for p, vals in r.plugin_metrics.items() if isinstance(vals, dict)
                               for k, v in vals.items()},
        version=__version__, generated=time.strftime("%Y-%m-%d %H:%M:%S"),
    )


def write_reports(out_dir: Path, *, base_dir: Path | None = None, title: str | None = None,
                  journal: Journal | None = None, only_stale: bool = False) -> Path:
    """(Re)write the overview and every run's page; returns DIR/report.html. `only_stale`: keep a run page
    newer than the run's summary.json (a resumed batch rewrites only what changed). Raises `UsageError`
    when DIR holds no run."""
    folder = collect_runs(out_dir, base_dir=base_dir, journal=journal)
    cache: dict[str, LoadedCandles | str] = {}
    equity_seen: dict[Path, dict[str, list[Any]]] = {}
    for record in folder.runs:
        if not record.has_files:
            continue
        page = record.run_dir / "report.html"
        if only_stale and page.is_file() and page.stat().st_mtime >= (record.run_dir / "summary.json").stat().st_mtime:
            continue
        with collector_paused():  # a page makes no cycles worth a pass over the heap (executor/gcpause.py)
            html = render_run_page(folder, record, cache, equity_seen)
        atomic_write(page, html, durable=False)
    with collector_paused():
        overview = render_overview(folder, title or f"plughost results: {out_dir.name}", equity_seen)
    return atomic_write(out_dir / "report.html", overview, durable=False)
