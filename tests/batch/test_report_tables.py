"""The run page's trade table and markers, built a column at a time (reports/pages.py `trade_rows`,
reports/series.py `_markers`), against the same cells built one trade at a time from the formatting helpers
(`fmt_time`, `num_attr`, `format_number`, escaping): missing values, sub-second times, text to escape."""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pytest
from plughost.executor.results import format_number
from plughost.reports.pages import num_attr, table_rows, table_trades, trade_rows
from plughost.reports.series import MAX_TRADE_ROWS, _markers
from plughost.reports.trades import Trade, TradeTable, fmt_time

T0 = 1_700_000_000_000


def _trades(n: int, seed: int) -> list[Trade]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        entry: int | None = T0 + int(rng.integers(0, 10**9)) if i % 11 else None
        if i % 7 == 0 and entry is not None:  # milliseconds in the first second of a minute: shown
            entry = entry - entry % 60_000 + int(rng.integers(1, 1000))
        exit_ = entry + int(rng.integers(1, 10**7)) if entry is not None and i % 13 else None
        price = float(rng.normal(100, 10)) if i % 5 else (0.0 if i % 2 else None)
        size = float(rng.normal(1, 0.5)) if i % 17 else None
        pnl = float(rng.normal(0, 5_000)) if i % 19 else (None if i % 2 else 3)  # an int P&L: formatted as one
        out.append(Trade(["A", "", "<b>&'\""][i % 3], "short" if i % 4 == 0 else "long", entry, exit_, price,
                         float(rng.normal(100, 10)) if i % 23 else float("nan"), size,
                         float(rng.random()) if i % 29 else None, pnl, ["sig<1>", "", "x&y"][i % 3], "stop"))
    return out


def _one_row(number: int, t: Trade) -> str:
    """A row as the page has always spelled it, one trade at a time."""
    esc = html.escape

    def cell(value: Any, pattern: str) -> str:
        return f'<td class="num" data-v="{num_attr(value)}">{format_number(value, pattern)}</td>'

    return (f'<tr class="clickable" data-entry="{"" if t.entry_ms is None else t.entry_ms}" '
            f'data-exit="{"" if t.exit_ms is None else t.exit_ms}" data-symbol="{esc(t.symbol)}">\n'
            f'<td class="num" data-v="{number}">{number}</td><td>{esc(t.symbol)}</td>'
            f'<td class="{"failed" if t.side == "short" else "ok"}">{esc(t.side)}</td>\n'
            f'<td data-v="{num_attr(t.entry_ms)}">{fmt_time(t.entry_ms)}</td>{cell(t.entry_price, "{:,.6g}")}\n'
            f'<td data-v="{num_attr(t.exit_ms)}">{fmt_time(t.exit_ms)}</td>{cell(t.exit_price, "{:,.6g}")}\n'
            f'{cell(t.size, "{:,.6g}")}{cell(t.fees, "{:,.4f}")}\n'
            f'{cell(t.pnl, "{:+,.2f}")}{cell(t.return_pct, "{:+.2f}")}\n'
            f'<td>{esc(t.entry_reason)}</td><td>{esc(t.exit_reason)}</td>\n</tr>\n')


@pytest.mark.parametrize("n", [0, 1, 300, MAX_TRADE_ROWS + 700])
def test_trade_rows_are_the_cells_of_each_trade(n: int) -> None:
    trades = TradeTable.of(_trades(n, n))
    keep = table_rows(trades)
    assert [(i + 1, trades[i]) for i in keep] == table_trades(trades)
    built = str(trade_rows(trades, keep))
    assert built == "".join(_one_row(number, t) for number, t in table_trades(trades))
    if n > 2:
        assert "&lt;b&gt;&amp;&#x27;&quot;" in built and "<b>" not in built
        assert re.search(r"<td data-v=\"\d+\.0\">\d{4}-\d\d-\d\d \d\d:\d\d:00\.\d{3}</td>", built)  # milliseconds


def test_the_rest_is_ranked_by_pnl_ties_in_time_order() -> None:
    pnl = [1.0] * (MAX_TRADE_ROWS // 2) + [0.0, None, -0.0, 5.0] * MAX_TRADE_ROWS
    trades = TradeTable.of([Trade("s", "long", i, i + 1, 1.0, 1.0, 1.0, 0.0, p, "", "") for i, p in enumerate(pnl)])
    keep = table_rows(trades)
    rest = sorted(range(MAX_TRADE_ROWS // 2, len(pnl)), key=lambda i: pnl[i] or 0.0)  # the rule, spelled out
    quarter = MAX_TRADE_ROWS // 4
    assert keep == sorted({*range(MAX_TRADE_ROWS // 2), *rest[:quarter], *rest[-quarter:]})


@pytest.mark.parametrize("n", [3, 40, 41, 5_000])
def test_markers_sit_on_the_bar_holding_each_fill(n: int) -> None:
    trades = TradeTable.of(_trades(n, 7 + n))
    bar_ms = np.arange(T0 - 3_600_000, T0 + 2 * 10**9, 3_600_000, dtype=np.int64)
    rows = trades.rows_of("A")
    assert rows == [i for i in range(n) if trades.symbol[i] in ("", "A")]
    markers, unmarked = _markers(trades, rows, bar_ms)
    step = -(-2 * len(rows) // 2000) if 2 * len(rows) > 2000 else 1
    shown = rows[::step]
    assert unmarked == len(rows) - len(shown)
    expected = []
    for i in shown:
        t = trades[i]
        for ms, kind in ((t.entry_ms, "entry"), (t.exit_ms, "exit")):
            if ms is not None:
                at = max(0, int(np.searchsorted(bar_ms, ms, side="right")) - 1)
                text = ("S" if t.side == "short" else "L") if kind == "entry" else \
                    (f"{t.pnl:+.2f}" if len(rows) <= 40 and t.pnl is not None else "")
                expected.append((int(bar_ms[at] // 1000), kind, text))
    expected.sort(key=lambda m: m[0])
    got = [(m["time"], "exit" if m["color"] == "#2563eb" else "entry", m["text"]) for m in markers]
    assert got == expected
    assert all(list(m) == ["time", "position", "shape", "color", "text"] for m in markers)  # the page's JSON
    one = TradeTable.of([t for t in _trades(n, 1) if t.symbol == "A"])
    assert one.rows_of("A") == list(range(len(one))) and one.rows_of("B") == []
