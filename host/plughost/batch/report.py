"""DIR/report.html: one self-contained, offline file (inline CSS, JS and SVG; no external reference).

Sections: headline counts, a sortable table of runs and metrics, the best runs' equity curves, plugin
metrics, and the failed runs with their error codes, messages and stderr tails.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..executor.results import format_number
from .journal import RunRow

BEST_RUNS = 5
CHART_POINTS = 600
TAIL_CHARS = 4000
PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f")
METRIC_COLUMNS = (
    ("num_trades", "trades", "{:.0f}"),
    ("total_pnl", "P&L", "{:,.2f}"),
    ("return_pct", "return %", "{:+.2f}"),
    ("buy_and_hold_return_pct", "B&H %", "{:+.2f}"),
    ("win_rate", "win rate", "{:.1%}"),
    ("max_drawdown", "max DD %", "{:.2f}"),
    ("sharpe", "sharpe", "{:.2f}"),
)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.muted{color:#6b7280}.ok{color:#15803d}.failed{color:#b91c1c}.other{color:#a16207}
.cards{display:flex;gap:12px;margin:12px 0}.card{border:1px solid #e5e7eb;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f9fafb;cursor:pointer;user-select:none;position:sticky;top:0}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.cfg{font-family:ui-monospace,monospace;font-size:12px;white-space:normal;max-width:340px}
pre{background:#f3f4f6;padding:8px;border-radius:4px;max-height:260px;overflow:auto;white-space:pre-wrap;font-size:12px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:3px;
vertical-align:middle;margin-right:4px}
svg text{font:11px system-ui,sans-serif;fill:#6b7280}
"""

_JS = """
(function(){
  function key(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;var n=parseFloat(v);
    return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var ths=table.querySelectorAll('thead th');
    ths.forEach(function(th,col){th.addEventListener('click',function(){
      var asc=!th.classList.contains('sorted-asc');
      ths.forEach(function(o){o.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
        if(typeof x!==typeof y){x=String(x);y=String(y);}
        return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){body.appendChild(r);});
    });});
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num_attr(value: Any) -> str:
    return "" if not isinstance(value, int | float) or isinstance(value, bool) else repr(float(value))


def _equity(out_dir: Path, run_id: str) -> tuple[list[float], list[float]]:
    try:
        table = pq.read_table(out_dir / "runs" / run_id / "equity.parquet")
    except Exception:
        return [], []
    column = table.column("timestamp")
    ts = (column.cast("int64") if not column.type.equals("int64") else column).to_pylist()
    eq = table.column("equity").to_pylist()
    if len(ts) > CHART_POINTS:
        step = len(ts) / CHART_POINTS
        idx = sorted({min(len(ts) - 1, int(i * step)) for i in range(CHART_POINTS)} | {len(ts) - 1})
        ts, eq = [ts[i] for i in idx], [eq[i] for i in idx]
    return [float(t) for t in ts], [float(v) for v in eq]


def _chart(series: list[tuple[str, list[float], list[float]]]) -> str:
    width, height, left, right, top, bottom = 900, 320, 70, 10, 10, 28
    pts = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    if not pts:
        return '<p class="muted">no equity data</p>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom)

    parts = [f'<svg id="equity-chart" role="img" aria-label="equity curves" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMidYMid meet">']
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        y = sy(v)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    for i in range(5):
        x = x0 + (x1 - x0) * i / 4
        label = time.strftime("%Y-%m-%d %H:%M", time.gmtime(x / 1000.0))
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{sx(x):.1f}" y="{height - 8}" text-anchor="{anchor}">{label}</text>')
    for n, (name, xs, ys) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True) if math.isfinite(y))
        parts.append(f'<polyline class="equity-line" fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{coords}"><title>{_e(name)}</title></polyline>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{PALETTE[n % len(PALETTE)]}"></i>{_e(name)}</span>'
                     for n, (name, _, _) in enumerate(series))
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _config_text(row: RunRow) -> str:
    cfg = row.spec.get("config") or {}
    return json.dumps(cfg, sort_keys=True, separators=(", ", ": "))


def render_report(out_dir: Path, rows: list[RunRow], *, title: str = "plughost batch") -> str:
    ok = [r for r in rows if r.status == "ok"]
    failed = [r for r in rows if r.status == "failed"]
    other = [r for r in rows if r.status not in ("ok", "failed")]
    out: list[str] = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<div class="muted">{_e(out_dir)} &middot; generated {_e(time.strftime("%Y-%m-%d %H:%M:%S"))}</div>',
        '<div class="cards">',
        f'<div class="card"><b>{len(rows)}</b>runs</div>',
        f'<div class="card ok"><b>{len(ok)}</b>ok</div>',
        f'<div class="card failed"><b>{len(failed)}</b>failed</div>',
        f'<div class="card other"><b>{len(other)}</b>not finished</div></div>',
    ]
    # equity curves of the best runs
    best = sorted((r for r in ok if r.metrics and isinstance(r.metrics.get("return_pct"), int | float)),
                  key=lambda r: (-(r.metrics or {})["return_pct"], r.id))[:BEST_RUNS]
    out.append(f"<h2>Equity of the best {len(best)} runs (by return)</h2>")
    series = []
    for r in best:
        xs, ys = _equity(out_dir, r.id)
        if xs:
            series.append((f"{r.id} ({(r.metrics or {}).get('return_pct', 0):+.2f}%)", xs, ys))
    out.append(_chart(series) if series else '<p class="muted">no successful run yet</p>')
    # runs table
    out.append("<h2>Runs</h2>")
    head = ["#", "run", "strategy", "candles", "config", "status", "attempts"] + [m[1] for m in METRIC_COLUMNS] + [
        "seconds", "error"]
    numeric = {"#", "attempts", "seconds"} | {m[1] for m in METRIC_COLUMNS}
    out.append('<table id="runs" class="sortable"><thead><tr>' + "".join(
        f'<th class="{"num" if h in numeric else ""}">{_e(h)}</th>' for h in head) + "</tr></thead><tbody>")
    for r in rows:
        m = (r.metrics or {}) if r.status == "ok" else {}
        cells = [
            f'<td class="num" data-v="{r.idx}">{r.idx}</td>', f"<td>{_e(r.id)}</td>", f"<td>{_e(r.strategy)}</td>",
            f'<td title="{_e(r.candles)}">{_e(Path(r.candles).name)}</td>',
            f'<td class="cfg">{_e(_config_text(r))}</td>',
            f'<td class="{_e(r.status if r.status in ("ok", "failed") else "other")}">{_e(r.status)}</td>',
            f'<td class="num" data-v="{r.attempts}">{r.attempts}</td>',
        ]
        for key, _label, pattern in METRIC_COLUMNS:
            v = m.get(key)
            cells.append(f'<td class="num" data-v="{_num_attr(v)}">{_e(format_number(v, pattern))}</td>')
        seconds = _e(format_number(r.duration_s, "{:.2f}"))
        cells.append(f'<td class="num" data-v="{_num_attr(r.duration_s)}">{seconds}</td>')
        cells.append(f"<td>{_e(r.error_code or '')}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    # plugin metrics
    keys = sorted({f"{p}: {k}" for r in rows for p, vals in (r.plugin_metrics or {}).items() for k in vals})
    out.append("<h2>Plugin metrics</h2>")
    if keys:
        out.append('<table id="plugin-metrics" class="sortable"><thead><tr><th>run</th>' + "".join(
            f'<th class="num">{_e(k)}</th>' for k in keys) + "</tr></thead><tbody>")
        for r in rows:
            flat = {f"{p}: {k}": v for p, vals in (r.plugin_metrics or {}).items() for k, v in vals.items()}
            if not flat:
                continue
            out.append(f"<tr><td>{_e(r.id)}</td>" + "".join(
                f'<td class="num" data-v="{_num_attr(flat.get(k))}">{_e(format_number(flat.get(k), "{:,.4g}"))}</td>'
                for k in keys) + "</tr>")
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">no feature reported metrics</p>')
    # failures
    out.append(f"<h2>Failed runs ({len(failed)})</h2>")
    if not failed:
        out.append('<p class="muted">none</p>')
    for r in failed:
        err = r.error or {}
        out.append(f'<div class="failure" id="fail-{_e(r.id)}"><h3>{_e(r.id)} <span class="failed">'
                   f'{_e(err.get("code", "?"))}</span> <span class="muted">plugin {_e(err.get("plugin") or "-")}, '
                   f"attempts {r.attempts}</span></h3><div>{_e(err.get('message', ''))}</div>")
        if err.get("hint"):
            out.append(f'<div class="muted">&rarr; {_e(err["hint"])}</div>')
        tail = str(err.get("traceback") or "") + str(err.get("stderr_tail") or "")
        if tail.strip():
            if len(tail) > TAIL_CHARS:
                tail = "..." + tail[-TAIL_CHARS:]
            out.append(f"<pre>{_e(tail)}</pre>")
        out.append("</div>")
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out)


def write_report(out_dir: Path, rows: list[RunRow], *, title: str = "plughost batch") -> Path:
    text = render_report(out_dir, rows, title=title)
    final = out_dir / "report.html"
    tmp = out_dir / f".report.html.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, final)
    with contextlib.suppress(OSError):
        tmp.unlink()
    return final
