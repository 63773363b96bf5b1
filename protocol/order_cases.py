"""The cases of protocol/vectors/orders.json: one or more per rule of docs/orders.md.

Each case lists the merged candles, the alerts and the signals decided at each event; `must` holds the
expectations worked out by hand from the rules (trades as (side, entry_time, entry_price, exit_time,
exit_price, size, exit_reason), counts, final cash). `make_vectors.py` replays every case through
`plughost_sdk.orders`, refuses to write the vectors unless every hand expectation holds, and records the
whole replay (every trade field, equity after each timestamp, positions) for the other implementations.
"""

from __future__ import annotations

from typing import Any

M = 60_000  # one minute: candle i of a symbol opens at i * M


def bars(sym: int, rows: list[tuple[float, float, float, float]], start: int = 0, step: int = 1) -> list[list[Any]]:
    return [[(start + i * step) * M, sym, o, h, lo, c] for i, (o, h, lo, c) in enumerate(rows)]


def merged(*streams: list[list[Any]]) -> list[list[Any]]:
    return sorted((row for s in streams for row in s), key=lambda r: (r[0], r[1]))


def sig(at: int, type: str = "entry", alert: int | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"at": at, "alert": alert, "type": type}
    for key in ("side", "size", "price", "stop", "valid_for", "stop_loss", "take_profit", "trail_pct", "symbol",
                "reason"):
        out[key] = fields.pop(key, None)
    assert not fields, fields
    return out


FLAT = [(100.0, 101.0, 99.0, 100.0)] * 6
RISE = [(100.0, 101.0, 99.0, 100.5), (101.0, 102.0, 100.0, 101.5), (102.0, 103.0, 101.0, 102.5),
        (103.0, 104.0, 102.0, 103.5), (104.0, 105.0, 103.0, 104.5)]

CASES: list[dict[str, Any]] = [
    {"name": "market_orders_fill_at_the_next_open", "candles": bars(0, RISE),
     "signals": [sig(0, reason="in"), sig(2, "exit", reason="out")],
     "must": {"trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 1.0, "out")], "cash": 10_002.0}},
    {"name": "fill_at_close_fills_at_once", "rules": {"fill_at": "close"}, "candles": bars(0, RISE),
     "signals": [sig(0), sig(2, "exit")],
     "must": {"trades": [("long", 0, 100.5, 2 * M, 102.5, 1.0, None)]}},
    {"name": "entry_while_in_position_and_exit_while_flat_are_ignored", "candles": bars(0, RISE),
     "signals": [sig(0, "exit"), sig(0), sig(1), sig(1, "entry"), sig(2, "exit")],
     "must": {"ignored": 3, "trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 1.0, None)]}},
    {"name": "limit_buy_waits_for_low_and_fills_at_price_or_better_open",
     "candles": bars(0, [(100, 101, 99.5, 100), (100, 101, 99.8, 100.5), (100.5, 101, 98.0, 99.0),
                         (97.0, 98.0, 96.0, 97.5), (97.5, 98, 97, 97.5)]),
     "signals": [sig(0, price=99.0, valid_for=3), sig(2, "exit", price=96.5)],
     "must": {"trades": [("long", 2 * M, 99.0, 3 * M, 97.0, 1.0, None)]}},
    {"name": "limit_entry_gapping_through_fills_at_the_open",
     "candles": bars(0, [(100, 101, 99, 100), (98.0, 99.0, 97.0, 98.5), (99, 100, 98, 99)]),
     "signals": [sig(0, price=99.0)],
     "must": {"trades": [("long", 1 * M, 98.0, 2 * M, 99.0, 1.0, "end_of_data")]}},
    {"name": "priced_orders_expire_after_valid_for_candles",
     "candles": bars(0, FLAT),
     "signals": [sig(0, price=90.0, valid_for=2), sig(3, stop=150.0)],
     "must": {"expired": 2, "trades": []}},
    {"name": "stop_entry_fills_at_stop_with_slippage_and_short_stop", "rules": {"slippage_bps": 10.0},
     "candles": bars(0, [(100, 101, 99, 100), (100.5, 103, 100, 102), (102, 102.5, 101, 101.5),
                         (101, 101.5, 96, 97), (97, 98, 96, 97)]),
     "signals": [sig(0, stop=102.0), sig(2, "exit", stop=100.0)],
     "must": {"trades": [("long", 1 * M, 102.0 * (1 + 10 / 10000), 3 * M, 100.0 * (1 - 10 / 10000), 1.0, None)]}},
    {"name": "stop_loss_and_take_profit_in_one_candle_stop_fills",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99.5, 100.5), (100.5, 106, 94, 100), (100, 101, 99, 100)]),
     "signals": [sig(0, stop_loss=95.0, take_profit=105.0)],
     "must": {"trades": [("long", 1 * M, 100.0, 2 * M, 95.0, 1.0, "stop_loss")]}},
    {"name": "protective_live_on_the_fill_candle_after_an_open_fill",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 94, 96), (96, 97, 95, 96)]),
     "signals": [sig(0, stop_loss=95.0)],
     "must": {"trades": [("long", 1 * M, 100.0, 1 * M, 95.0, 1.0, "stop_loss")]}},
    {"name": "protective_live_from_the_candle_after_a_close_fill", "rules": {"fill_at": "close"},
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 90, 96), (96, 97, 94, 96)]),
     "signals": [sig(0, stop_loss=95.0)],
     "must": {"trades": [("long", 0, 100.0, 1 * M, 95.0, 1.0, "stop_loss")]}},
    {"name": "protective_not_live_on_an_inside_fill_candle",
     "candles": bars(0, [(100, 101, 99, 100), (100.5, 103, 98, 101), (101, 102, 98.5, 99), (99, 100, 98, 99)]),
     "signals": [sig(0, stop=102.0, stop_loss=99.0)],
     "must": {"trades": [("long", 1 * M, 102.0, 2 * M, 99.0, 1.0, "stop_loss")]}},
    {"name": "levels_the_entry_open_already_passed_fill_at_that_open",
     "symbols": ["A", "B"],
     "candles": merged(bars(0, [(100, 101, 99, 100), (105, 106, 104, 105), (105, 106, 104, 105)]),
                       bars(1, [(100, 101, 99, 100), (95, 96, 94, 95), (95, 96, 94, 95)])),
     "signals": [sig(0, take_profit=103.0), sig(1, stop_loss=97.0)],
     "must": {"trades": [("long", 1 * M, 105.0, 1 * M, 105.0, 1.0, "take_profit"),
                         ("long", 1 * M, 95.0, 1 * M, 95.0, 1.0, "stop_loss")]}},
    {"name": "gap_through_stop_loss_fills_at_the_open",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (90, 92, 89, 91), (91, 92, 90, 91)]),
     "signals": [sig(0, stop_loss=95.0, take_profit=110.0)],
     "must": {"trades": [("long", 1 * M, 100.0, 2 * M, 90.0, 1.0, "stop_loss")]}},
    {"name": "take_profit_gap_fills_at_the_better_open_without_slippage", "rules": {"slippage_bps": 50.0},
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (112, 113, 111, 112), (112, 113, 111, 112)]),
     "signals": [sig(0, take_profit=110.0)],
     "must": {"trades": [("long", 1 * M, 100.0 * (1 + 50 / 10000), 2 * M, 112.0, 1.0, "take_profit")]}},
    {"name": "trailing_stop_follows_the_best_high",
     "candles": bars(0, [(100, 101, 99, 100), (100, 104, 99.5, 103), (103, 110, 102, 109), (109, 109.5, 98, 99),
                         (99, 100, 98, 99)]),
     "signals": [sig(0, trail_pct=5.0)],
     "must": {"trades": [("long", 1 * M, 100.0, 3 * M, 110.0 * (1 - 5.0 / 100), 1.0, "trailing_stop")]}},
    {"name": "short_with_take_profit_below_and_stop_above",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (99, 99.5, 89, 90), (90, 91, 89, 90)]),
     "signals": [sig(0, side="short", stop_loss=105.0, take_profit=92.0, size=2.0)],
     "must": {"trades": [("short", 1 * M, 100.0, 2 * M, 92.0, 2.0, "take_profit")], "cash": 10_016.0}},
    {"name": "short_stop_loss_and_short_market_exit",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (101, 106, 100, 104), (104, 105, 103, 104),
                         (103, 104, 102, 103)]),
     "signals": [sig(0, side="short", stop_loss=105.0), sig(2, side="short"), sig(3, "exit")],
     "must": {"trades": [("short", 1 * M, 100.0, 2 * M, 105.0, 1.0, "stop_loss"),
                         ("short", 3 * M, 104.0, 4 * M, 103.0, 1.0, None)]}},
    {"name": "fees_per_side_on_notional_pnl_net",
     "rules": {"fee_bps": 10.0}, "candles": bars(0, RISE),
     "signals": [sig(0, size=2.0), sig(2, "exit")],
     "must": {"trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 2.0, None)],
              "cash": 10_000.0 + 4.0 - 2 * 101.0 * 10 / 10000 - 2 * 103.0 * 10 / 10000}},
    {"name": "notional_size_mode", "rules": {"size_mode": "notional", "size": 1010.0}, "candles": bars(0, RISE),
     "signals": [sig(0), sig(2, "exit")],
     "must": {"trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 10.0, None)]}},
    {"name": "fraction_size_mode_all_in_passes_the_cash_check",
     "rules": {"size_mode": "fraction", "size": 1.0, "fee_bps": 10.0}, "candles": bars(0, RISE),
     "signals": [sig(0), sig(2, "exit")],
     "must": {"rejected": 0, "trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 10_000.0 / (101.0 * 1.001), None)]}},
    {"name": "insufficient_cash_is_rejected_and_leverage_allows_more",
     "candles": bars(0, RISE), "signals": [sig(0, size=200.0), sig(1, size=97.0), sig(3, "exit")],
     "must": {"rejected": 1, "trades": [("long", 2 * M, 102.0, 4 * M, 104.0, 97.0, None)]}},
    {"name": "leverage_two", "rules": {"leverage": 2.0}, "candles": bars(0, RISE),
     "signals": [sig(0, size=150.0), sig(2, "exit")],
     "must": {"rejected": 0, "trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 150.0, None)]}},
    {"name": "liquidation_when_equity_reaches_zero",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (150, 160, 140, 155), (300, 310, 290, 300),
                         (300, 310, 290, 300)]),
     "signals": [sig(0, side="short", size=60.0), sig(3, side="long", size=1.0)],
     "must": {"rejected": 1, "liquidated": True,
              "trades": [("short", 1 * M, 100.0, 3 * M, 300.0, 60.0, "liquidated")]}},
    {"name": "exits_at_the_open_free_cash_for_entries_at_the_same_open",
     "symbols": ["A", "B"],
     "candles": merged(bars(0, RISE), bars(1, [(50, 51, 49, 50)] * 5)),
     "signals": [sig(0, size=95.0), sig(4, "exit"), sig(5, size=190.0)],
     "must": {"rejected": 0, "trades": [("long", 1 * M, 101.0, 3 * M, 103.0, 95.0, None),
                                        ("long", 3 * M, 50.0, 4 * M, 50.0, 190.0, "end_of_data")]}},
    {"name": "a_signal_may_name_another_symbol",
     "symbols": ["A", "B"],
     "candles": merged(bars(0, RISE), bars(1, [(50, 51, 49, 50), (52, 53, 51, 52), (54, 55, 53, 54),
                                                (56, 57, 55, 56), (58, 59, 57, 58)])),
     "signals": [sig(0, symbol="B"), sig(4, "exit", symbol="B")],
     "must": {"trades": [("long", 1 * M, 52.0, 3 * M, 56.0, 1.0, None)]}},
    {"name": "alert_price_fills_at_the_alert_time_else_next_open",
     "candles": bars(0, RISE),
     "alerts": [{"at": 1, "id": "a1", "timestamp": 30_000, "symbol": "A", "price": 100.8},
                {"at": 3, "id": "a2", "timestamp": 150_000, "symbol": "A", "price": None}],
     "signals": [sig(1, alert=0), sig(3, "exit", alert=1)],
     "must": {"trades": [("long", 30_000, 100.8, 3 * M, 103.0, 1.0, None)]}},
    {"name": "partial_exit_makes_a_trade_of_its_part",
     "rules": {"fee_bps": 20.0}, "candles": bars(0, RISE),
     "signals": [sig(0, size=3.0), sig(1, "exit", size=1.0), sig(2, "exit", size=5.0)],
     "must": {"trades": [("long", 1 * M, 101.0, 2 * M, 102.0, 1.0, None),
                         ("long", 1 * M, 101.0, 3 * M, 103.0, 2.0, None)]}},
    {"name": "end_of_data_closes_at_the_last_close_and_expires_orders",
     "symbols": ["A", "B"],
     "candles": merged(bars(0, RISE[:3]), bars(1, [(50, 51, 49, 50)] * 5)),
     "signals": [sig(0), sig(1, symbol="B", price=10.0), sig(2, "exit", price=200.0), sig(7)],
     "must": {"expired": 3, "trades": [("long", 1 * M, 101.0, 2 * M, 102.5, 1.0, "end_of_data")]}},
    {"name": "a_new_entry_order_replaces_the_pending_one",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 95, 96), (96, 97, 95, 96)]),
     "signals": [sig(0, price=90.0, valid_for=5), sig(1, price=96.0, valid_for=5)],
     "must": {"expired": 0, "trades": [("long", 2 * M, 96.0, 3 * M, 96.0, 1.0, "end_of_data")]}},
    {"name": "pending_exit_order_fills_before_protective_levels_at_the_open",
     "candles": bars(0, [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), (90, 91, 89, 90)]),
     "signals": [sig(0, stop_loss=95.0), sig(2, "exit", size=0.5, reason="half")],
     "must": {"trades": [("long", 1 * M, 100.0, 3 * M, 90.0, 0.5, "half"),
                         ("long", 1 * M, 100.0, 3 * M, 90.0, 0.5, "stop_loss")]}},
    {"name": "same_timestamp_two_symbols_in_symbol_order_with_slippage_and_fees",
     "symbols": ["AAA", "BBB"], "rules": {"fee_bps": 5.0, "slippage_bps": 5.0, "size_mode": "fraction", "size": 0.5},
     "candles": merged(bars(0, RISE), bars(1, [(10, 11, 9, 10.5), (10.5, 11, 10, 10.8), (10.8, 11.5, 10.5, 11),
                                               (11, 11.2, 10.8, 11.1), (11.1, 11.3, 11, 11.2)])),
     "signals": [sig(0), sig(1), sig(4, "exit"), sig(5, "exit")],
     "must": {"rejected": 0}},
]
