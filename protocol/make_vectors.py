"""Regenerate the golden frames in protocol/vectors/ (frames.json, bad_frames.json).

The message list below is the source of truth; the encoding is plain msgpack with the rules of
PROTOCOL.md section 3. `python protocol/make_vectors.py --check` exits 1 when the committed files differ.
position_mirror.json is written by hand (its expectations are worked out from the rules, not generated).
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


def f64_bytes(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def i64_bytes(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


TS = [1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000]

MESSAGES: list[tuple[str, str, Any]] = [
    (
        "hello_python_strategy",
        "plugin->host",
        [2, "hello", {
            "protocol": 1,
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
            "protocol": 1,
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
            "run": {"history": 200, "size": 1.5, "symbols": ["BTCUSD"]},
        }],
    ),
    ("initialize_response", "plugin->host", [1, 1, None, None]),
    (
        "candles_request",
        "host->plugin",
        [0, 2, "candles", {
            "symbol": "BTCUSD",
            "offset": 0,
            "n": 3,
            "columns": {
                "timestamp": i64_bytes(TS),
                "open": f64_bytes([100.5, 101.25, 99.75]),
                "high": f64_bytes([102.5, 103.5, 100.5]),
                "low": f64_bytes([99.5, 100.5, 98.25]),
                "close": f64_bytes([101.25, 99.75, 100.125]),
                "volume": f64_bytes([10.5, 20.25, 0.5]),
            },
            "indicators": {"sma_2": f64_bytes([math.nan, 100.5, 99.9375])},
            "alerts": [{
                "at": 1, "id": "a-1", "timestamp": TS[1], "symbol": "BTCUSD",
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
                {"at": 1, "alert": 0, "type": "entry", "price": None, "size": None, "reason": "alert"},
                {"at": 2, "alert": None, "type": "exit", "price": 100.125, "size": 0.5, "reason": "tp"},
            ],
            "position": {"entry_price": 101.25, "size": 0.5, "entry_timestamp": TS[1]},
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
         "source": "    if x = 1:", "traceback": "  File \"strategy.py\", line 12\n    if x = 1:\nSyntaxError: invalid syntax"}]),
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


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, text in build().items():
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
