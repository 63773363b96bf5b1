"""The worked examples of docs/run-config.md ("Orders, fills and the portfolio"), booked for real: if the
rules change, the page and this test change together."""

from __future__ import annotations

from typing import Any

import pytest
from plughost_sdk.orders import OrderBook, OrderSignal, Rules, replay

# c0..c3 of the page: (timestamp, open, high, low, close)
CANDLES = [(0, 100.0, 101.0, 99.0, 100.5), (60_000, 101.0, 102.0, 100.0, 101.5), (120_000, 102.0, 103.0, 101.0, 102.5),
           (180_000, 103.0, 104.0, 102.0, 103.5)]

E = OrderSignal


def book(signals: list[tuple[int, OrderSignal]], **rules: Any) -> OrderBook:
    b = OrderBook(["X"], Rules(**rules))
    cols = list(zip(*CANDLES, strict=True))
    replay(b, cols[0], [0] * 4, cols[1], cols[2], cols[3], cols[4], [3], [],
           [(at, None, sig) for at, sig in signals])
    return b


# (signals, run keys, expected (side, entry, exit, size, exit_reason) trades, (ignored, rejected, expired))
EXAMPLES: dict[str, tuple[Any, ...]] = {
    "market_next_open": ([(0, E("entry")), (2, E("exit"))], {}, [("long", 101, 103, 1, None)], (0, 0, 0)),
    "fill_at_close": ([(0, E("entry")), (2, E("exit"))], {"fill_at": "close"},
                      [("long", 100.5, 102.5, 1, None)], (0, 0, 0)),
    "limit_inside": ([(0, E("entry", price=100.5, valid_for=2))], {}, [("long", 100.5, 103.5, 1, "end_of_data")],
                     (0, 0, 0)),
    "limit_gapped": ([(0, E("entry", price=101.5))], {}, [("long", 101, 103.5, 1, "end_of_data")], (0, 0, 0)),
    "stop_inside": ([(0, E("entry", stop=101.8))], {}, [("long", 101.8, 103.5, 1, "end_of_data")], (0, 0, 0)),
    "stop_expires": ([(0, E("entry", stop=110, valid_for=2))], {}, [], (0, 0, 1)),
    "bracket_stop_first": ([(0, E("entry", stop_loss=100.5, take_profit=101.9))], {},
                           [("long", 101, 100.5, 1, "stop_loss")], (0, 0, 0)),
    "short": ([(0, E("entry", side="short", size=2)), (1, E("exit"))], {}, [("short", 101, 102, 2, None)], (0, 0, 0)),
    "cash": ([(0, E("entry", size=200))], {}, [], (0, 1, 0)),
    "leverage": ([(0, E("entry", size=200))], {"leverage": 3}, [("long", 101, 103.5, 200, "end_of_data")], (0, 0, 0)),
    "fraction": ([(0, E("entry", size=0.5))], {"size_mode": "fraction", "fee_bps": 10},
                 [("long", 101, 103.5, 0.5 * 10_000 / (101 * 1.001), "end_of_data")], (0, 0, 0)),
    "notional": ([(0, E("entry", size=1000))], {"size_mode": "notional"},
                 [("long", 101, 103.5, 1000 / 101, "end_of_data")], (0, 0, 0)),
    "ignored": ([(0, E("entry")), (1, E("entry"))], {}, [("long", 101, 103.5, 1, "end_of_data")], (1, 0, 0)),
    "trailing": ([(0, E("entry", trail_pct=2))], {}, [("long", 101, 103.5, 1, "end_of_data")], (0, 0, 0)),
    "last_candle": ([(3, E("entry"))], {}, [], (0, 0, 1)),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example(name: str) -> None:
    signals, rules, trades, counts = EXAMPLES[name]
    b = book(signals, **rules)
    got = [(t.side, t.entry_price, t.exit_price, t.size, t.exit_reason) for t in b.trades]
    assert got == pytest.approx(trades) if trades else got == []
    assert (b.ignored, b.rejected, b.expired) == counts


def test_trailing_stop_level_after_c1() -> None:
    b = OrderBook(["X"], Rules())
    cols = list(zip(*CANDLES[:2], strict=True))
    replay(b, cols[0], [0, 0], cols[1], cols[2], cols[3], cols[4], [], [], [(0, None, E("entry", trail_pct=2))])
    assert b.holdings[0].trail_level() == pytest.approx(99.96)
