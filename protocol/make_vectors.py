"""Regenerate the golden frames in protocol/vectors/ (frames.json, bad_frames.json).

The message list below is the source of truth; the encoding is plain msgpack with the rules of
PROTOCOL.md section 3. `python protocol/make_vectors.py --check` exits 1 when the committed files differ.
orders.json replays protocol/order_cases.py through plughost_sdk.orders, after checking every expectation
worked out by hand there; the TypeScript SDK and the host test against the recorded replay.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

import msgpack

HERE = Path(__file__).parent / "vectors"
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent / "sdk-python" / "src")]


def f64_bytes(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def i64_bytes(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def i32_bytes(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


NAN = math.nan


TS = [1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000]

MESSAGES: list[tuple[str, str, Any]] = [
    (
        "hello_python_strategy",
        "plugin->host",
        [2, "hello", {
            "protocol": 3,
            "sdk": "plughost-sdk-python",
            "sdk_version": "0.1.0",
            "plugin": {"name": "sma-cross", "version": "1.2.0", "type": "strategy"},
            "methods": ["initialize", "on_candle", "on_exit"],
            "pid": 4242,
        }],
    ),
    (
        "hello_feature_no_name",
        "plugin->host",
        [2, "hello", {
            "protocol": 2,
            "sdk": "plughost-sdk-typescript",
            "sdk_version": "0.1.0",
            "plugin": {"name": None, "version": None, "type": "feature"},
            "methods": ["on_post_run", "on_trade"],
            "pid": 70000,
        }],
    ),
    (
        "initialize_request",
        "host->plugin",
        [0, 1, "initialize", {
            "config": {"fast": 10, "slow": 30, "label": "ünïcode ✓"},
            "run_id": "r-1a2b",
            "run": {"history": 200, "size": 1.5, "symbols": ["BTCUSD", "ETHUSD"],
                    "rules": {"initial_capital": 10000.5, "fee_bps": 2.5, "slippage_bps": 0.5, "size": 1.5,
                              "size_mode": "fraction", "leverage": 1.5, "fill_at": "next_open"}},
        }],
    ),
    ("initialize_response", "plugin->host", [1, 1, None, None]),
    (
        "candles_request",
        "host->plugin",
        [0, 2, "candles", {
            "symbols": ["BTCUSD", "ETHUSD"],
            "offset": 0,
            "n": 3,
            "columns": {
                "timestamp": i64_bytes([TS[0], TS[0], TS[1]]),
                "open": f64_bytes([100.5, 101.25, 99.75]),
                "high": f64_bytes([102.5, 103.5, 100.5]),
                "low": f64_bytes([99.5, 100.5, 98.25]),
                "close": f64_bytes([101.25, 99.75, 100.125]),
                "volume": f64_bytes([10.5, 20.25, 0.5]),
                "symbol": struct.pack("<3i", 0, 1, 0),
            },
            "indicators": {"sma_2": f64_bytes([math.nan, math.nan, 100.6875])},
            "ends": [1, 2],
            "alerts": [{
                "at": 2, "id": "a-1", "timestamp": TS[1], "symbol": "BTCUSD",
                "price": None, "data": {"source": "tv", "score": 0.75},
            }],
            "last": True,
        }],
    ),
    (
        "candles_response",
        "plugin->host",
        [1, 2, None, {
            "signals": [
                {"at": 0, "alert": None, "type": "entry", "side": "short", "size": 0.5, "price": None,
                 "stop": 99.5, "valid_for": 3, "stop_loss": 103.5, "take_profit": 95.25, "trail_pct": 2.5,
                 "symbol": "ETHUSD", "reason": "breakout"},
                {"at": 2, "alert": 0, "type": "exit", "side": None, "size": None, "price": 100.125, "stop": None,
                 "valid_for": 1, "stop_loss": None, "take_profit": None, "trail_pct": None, "symbol": None,
                 "reason": "tp"},
            ],
            "book": {"cash": 9899.5, "positions": {"BTCUSD": {"side": "long", "size": 0.5, "entry_price": 101.25,
                                                              "entry_timestamp": TS[1]}}},
        }],
    ),
    (
        # version 3: the same two signals as candles_response, as columns (PROTOCOL.md section 6)
        "candles_response_columns",
        "plugin->host",
        [1, 2, None, {
            "signals": {
                "n": 2,
                "at": i32_bytes([0, 2]),
                "alert": i32_bytes([-1, 0]),
                "type": bytes([0, 1]),
                "side": bytes([2, 0]),
                "size": f64_bytes([0.5, NAN]),
                "price": f64_bytes([NAN, 100.125]),
                "stop": f64_bytes([99.5, NAN]),
                "valid_for": i32_bytes([3, 1]),
                "stop_loss": f64_bytes([103.5, NAN]),
                "take_profit": f64_bytes([95.25, NAN]),
                "trail_pct": f64_bytes([2.5, NAN]),
                "symbol": i32_bytes([0, -1]),
                "symbol_dict": ["ETHUSD"],
                "reason": i32_bytes([0, 1]),
                "reason_dict": ["breakout", "tp"],
            },
            "book": {"cash": 9899.5, "positions": {"BTCUSD": {"side": "long", "size": 0.5, "entry_price": 101.25,
                                                              "entry_timestamp": TS[1]}}},
        }],
    ),
    (
        "error_response",
        "plugin->host",
        [1, 3, {
            "type": "ZeroDivisionError",
            "message": "division by zero",
            "traceback": "Traceback (most recent call last):\n  File \"strategy.py\", line 9\nZeroDivisionError",
            "hook": "on_candle",
            "at": 17,
        }, None],
    ),
    (
        "trades_notification",
        "host->plugin",
        [2, "trades", {"trades": [{
            "symbol": "ETHUSD", "entry_time": TS[0], "entry_price": 2000.5, "exit_time": TS[2],
            "exit_price": 2010.25, "size": 1.5, "pnl": 14.625, "entry_reason": "x", "exit_reason": None,
            "side": "short", "fees": 0.25,
        }]}],
    ),
    ("pre_run_response", "plugin->host",
     [1, 4, None, {"config": {"strategy": "sma", "size": 2.5, "fee_bps": 1.5}}]),
    (
        "post_run_response_artifacts",
        "plugin->host",
        [1, 5, None, {
            "metrics": {"sortino": 1.25, "expectancy": -0.5},
            "artifacts": {"chart.html": "<html></html>", "raw.bin": b"\x00\x01\xff"},
        }],
    ),
    ("hook_error_notification", "plugin->host",
     [2, "hook_error", {"hook": "on_trade", "error": {
         "type": "Error", "message": "boom", "traceback": "Error: boom\n    at onTrade", "hook": "on_trade",
         "at": None}}]),
    ("load_error_notification", "plugin->host",
     [2, "load_error", {
         "type": "SyntaxError", "message": "invalid syntax", "kind": "syntax",
         "file": "/plugins/strategies/sma-cross/strategy.py", "line": 12, "column": 10,
         "source": "    if x = 1:",
         "traceback": "  File \"strategy.py\", line 12\n    if x = 1:\nSyntaxError: invalid syntax"}]),
    ("big_ints_and_non_finite", "plugin->host",
     [1, 6, None, {"big": 2**63 - 1, "neg": -(2**62) - 7, "small_neg": -33, "nan": math.nan,
                   "inf": math.inf, "ninf": -math.inf}]),
    ("ping_request", "host->plugin", [0, 7, "ping", {"t": 1.5}]),
    ("ping_response", "plugin->host", [1, 7, None, {"t": 1.5}]),
    ("shutdown_request", "host->plugin", [0, 4294967295, "shutdown", None]),
]


def to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return {"$int": str(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def build() -> dict[str, str]:
    frames = [
        {"name": name, "direction": direction,
         "hex": frame(msgpack.packb(message, use_bin_type=True)).hex(), "message": to_json(message)}
        for name, direction, message in MESSAGES
    ]
    deep = b"\x91" * 2000 + b"\xc0"
    bad = [
        {"name": "zero_length", "hex": "00000000", "max_frame": 1024, "error": "empty frame"},
        {"name": "over_max", "hex": "00000401" + "c0" * 8, "max_frame": 1024, "error": "frame too large"},
        {"name": "four_gib", "hex": "ffffffff", "max_frame": 67108864, "error": "frame too large"},
        {"name": "text_before_handshake", "hex": b"hello\n".hex(), "max_frame": 67108864,
         "error": "frame too large"},
        {"name": "invalid_msgpack_c1", "hex": frame(b"\xc1").hex(), "max_frame": 1024,
         "error": "invalid msgpack"},
        {"name": "trailing_bytes", "hex": frame(b"\xc0\xc0").hex(), "max_frame": 1024,
         "error": "invalid msgpack"},
        {"name": "map_claims_more_entries", "hex": frame(b"\xdf\x7f\xff\xff\xff\xa1a").hex(),
         "max_frame": 1024, "error": "invalid msgpack"},
        {"name": "deep_nesting", "hex": frame(deep).hex(), "max_frame": 1 << 20, "error": "invalid msgpack"},
        {"name": "ext_type", "hex": frame(b"\xd4\x05\x00").hex(), "max_frame": 1024, "error": "invalid msgpack"},
        {"name": "not_an_array", "hex": frame(msgpack.packb({"a": 1})).hex(), "max_frame": 1024,
         "error": "invalid message"},
        {"name": "unknown_kind", "hex": frame(msgpack.packb([7, 1, "x", None])).hex(), "max_frame": 1024,
         "error": "invalid message"},
        {"name": "request_wrong_arity", "hex": frame(msgpack.packb([0, 1, "x"])).hex(), "max_frame": 1024,
         "error": "invalid message"},
        {"name": "response_id_not_int", "hex": frame(msgpack.packb([1, "1", None, None])).hex(),
         "max_frame": 1024, "error": "invalid message"},
    ]
    return {
        "frames.json": json.dumps(frames, indent=1, ensure_ascii=False) + "\n",
        "bad_frames.json": json.dumps(bad, indent=1) + "\n",
    }


def replay_case(case: dict[str, Any]) -> dict[str, Any]:
    from plughost_sdk.orders import OrderBook, OrderSignal, Rules, replay

    symbols = case.get("symbols", ["A"])
    rules = Rules(**case.get("rules", {}))
    candles = case["candles"]
    ends = [max(i for i, row in enumerate(candles) if row[1] == s) for s in range(len(symbols))]
    alerts = case.get("alerts", [])
    book = OrderBook(symbols, rules)
    equity: list[list[Any]] = []
    cols = list(zip(*candles, strict=True))
    replay(
        book, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], ends,
        [(a["at"], a["price"], symbols.index(a["symbol"]), a["timestamp"]) for a in alerts],
        [(x["at"], x["alert"], OrderSignal.from_wire(x)) for x in case["signals"]],
        lambda row, ts: equity.append([ts, book.equity()]),
    )
    return {
        "trades": [t._asdict() for t in book.trades], "ignored": book.ignored, "rejected": book.rejected,
        "expired": book.expired, "cash": book.cash, "equity": equity, "positions": book.snapshot()["positions"],
        "liquidated": book.liquidated,
    }


def check_by_hand(case: dict[str, Any], got: dict[str, Any]) -> list[str]:
    must = case.get("must", {})
    problems = []
    for key in ("ignored", "rejected", "expired", "liquidated"):
        if key in must and must[key] != got[key]:
            problems.append(f"{key}: expected {must[key]}, got {got[key]}")
    if "cash" in must and not math.isclose(must["cash"], got["cash"], rel_tol=1e-12):
        problems.append(f"cash: expected {must['cash']}, got {got['cash']}")
    if "trades" in must:
        mine = [(t["side"], t["entry_time"], t["entry_price"], t["exit_time"], t["exit_price"], t["size"],
                 t["exit_reason"]) for t in got["trades"]]
        same = len(mine) == len(must["trades"]) and all(
            a[:2] == b[:2] and a[3] == b[3] and a[6] == b[6]
            and all(math.isclose(x, y, rel_tol=1e-12) for x, y in ((a[2], b[2]), (a[4], b[4]), (a[5], b[5])))
            for a, b in zip(mine, must["trades"], strict=False))
        if not same:
            problems.append(f"trades: expected {must['trades']}, got {mine}")
    return problems


def build_orders() -> str:
    from order_cases import CASES

    out = []
    for case in CASES:
        got = replay_case(case)
        problems = check_by_hand(case, got)
        if problems:
            raise SystemExit(f"order case {case['name']}: " + "; ".join(problems))
        symbols = case.get("symbols", ["A"])
        candles = case["candles"]
        out.append({
            "name": case["name"], "rules": {**vars(__import__("plughost_sdk.orders").orders.Rules(
                **case.get("rules", {})))},
            "symbols": symbols, "candles": candles,
            "ends": [max(i for i, row in enumerate(candles) if row[1] == s) for s in range(len(symbols))],
            "alerts": case.get("alerts", []), "signals": case["signals"], "expect": got,
        })
    return json.dumps(out, indent=1) + "\n"


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, text in {**build(), "orders.json": build_orders()}.items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale vectors: {', '.join(stale)}; run `python protocol/make_vectors.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
