"""The shared protocol vectors, decoded and re-encoded byte for byte by the host and the Python SDK."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plughost.executor.ledger import Ledger
from plughost.protocol import codec as host_codec
from plughost.protocol.framing import FrameDecoder, ProtocolViolation, encode_frame
from plughost.protocol.messages import AlertEvent, CandleBatch, parse_batch_result
from plughost_sdk import Signal, StrategyPlugin
from plughost_sdk import _codec as sdk_codec
from plughost_sdk._answers import SignalColumns, signal_map
from plughost_sdk._driver import StrategyDriver
from plughost_sdk._framing import FrameError, FrameReader
from plughost_sdk.orders import Rules

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
FRAMES = json.loads((VECTORS / "frames.json").read_text())
BAD = json.loads((VECTORS / "bad_frames.json").read_text())
ORDERS = json.loads((VECTORS / "orders.json").read_text())


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        if set(value) == {"$float"}:
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[value["$float"]]
        if set(value) == {"$int"}:
            return int(value["$int"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_vectors_are_up_to_date():
    script = VECTORS.parent / "make_vectors.py"
    assert subprocess.run([sys.executable, str(script), "--check"]).returncode == 0


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_host_decodes_and_reencodes_byte_for_byte(vector):
    raw = bytes.fromhex(vector["hex"])
    bodies = FrameDecoder().feed(raw)
    assert len(bodies) == 1
    decoded = host_codec.unpack(bodies[0])
    assert same(decoded, from_json(vector["message"]))
    host_codec.to_message(decoded)  # every vector is a valid message shape
    assert encode_frame(host_codec.pack(from_json(vector["message"]))) == raw


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_python_sdk_decodes_and_reencodes_byte_for_byte(vector, tmp_path):
    raw = bytes.fromhex(vector["hex"])
    path = tmp_path / "frame"
    path.write_bytes(raw)
    with open(path, "rb") as fh:
        body = FrameReader(fh.fileno()).read()
    assert body is not None
    assert same(sdk_codec.decode(body), from_json(vector["message"]))
    assert len(body).to_bytes(4, "big") + sdk_codec.encode(from_json(vector["message"])) == raw


@pytest.mark.parametrize("vector", BAD, ids=[v["name"] for v in BAD])
def test_host_refuses_bad_frames_with_its_protocol_error(vector):
    decoder = FrameDecoder(vector["max_frame"])
    with pytest.raises(ProtocolViolation) as info:
        for body in decoder.feed(bytes.fromhex(vector["hex"])):
            host_codec.decode_message(body)
        decoder.check_eof()
    assert vector["error"] in str(info.value)


@pytest.mark.parametrize("vector", BAD, ids=[v["name"] for v in BAD])
def test_python_sdk_refuses_bad_frames(vector, tmp_path):
    path = tmp_path / "frame"
    path.write_bytes(bytes.fromhex(vector["hex"]))
    with open(path, "rb") as fh, pytest.raises(FrameError):
        reader = FrameReader(fh.fileno(), vector["max_frame"])
        while (body := reader.read()) is not None:
            sdk_codec.check_message(sdk_codec.decode(body))


def _batch_params(case: dict[str, Any]) -> dict[str, Any]:
    cols = list(zip(*case["candles"], strict=True))
    n = len(case["candles"])
    return {
        "symbols": case["symbols"], "offset": 0, "n": n,
        "columns": {"timestamp": struct.pack(f"<{n}q", *cols[0]), "symbol": struct.pack(f"<{n}i", *cols[1]),
                    **{name: struct.pack(f"<{n}d", *cols[k]) for k, name in enumerate(("open", "high", "low",
                                                                                      "close"), start=2)},
                    "volume": struct.pack(f"<{n}d", *([0.0] * n))},
        "indicators": {}, "ends": case["ends"],
        "alerts": [{**a, "data": {}} for a in case["alerts"]], "last": True,
    }


def _check_trades(trades: list[dict[str, Any]], expect: list[dict[str, Any]]) -> None:
    assert len(trades) == len(expect)
    for got, want in zip(trades, expect, strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-9), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)


@pytest.mark.parametrize("case", ORDERS, ids=[c["name"] for c in ORDERS])
def test_host_ledger_books_the_order_vectors(case):
    params = _batch_params(case)
    cols = list(zip(*case["candles"], strict=True))
    batch = CandleBatch(
        case["symbols"], 0, np.array(cols[0], np.int64), *(np.array(cols[k], np.float64) for k in range(2, 6)),
        np.zeros(len(cols[0])), np.array(cols[1], np.int32), case["ends"],
        alerts=[AlertEvent(a["at"], a["id"], a["timestamp"], a["symbol"], a["price"]) for a in case["alerts"]],
        last=True)
    result = parse_batch_result({"signals": case["signals"]}, params["n"], len(case["alerts"]))
    ledger = Ledger(case["symbols"], Rules(**case["rules"]), "x")
    times, equity, _ = ledger.apply(batch, result)
    expect = case["expect"]
    _check_trades([t._asdict() for t in ledger.take_trades()], expect["trades"])
    book = ledger.book
    assert (book.ignored, book.rejected, book.expired, book.liquidated) == (
        expect["ignored"], expect["rejected"], expect["expired"], expect["liquidated"])
    assert math.isclose(book.cash, expect["cash"], rel_tol=1e-12)
    assert times.tolist() == [t for t, _ in expect["equity"]]
    assert equity.tolist() == pytest.approx([e for _, e in expect["equity"]], rel=1e-12)


class _Replayer(StrategyPlugin):
    """Emits a vector case's signals at the events they were decided at: the SDK's per-candle walk."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.by_row: dict[int, list[Signal]] = {}
        self.by_alert: dict[str, list[Signal]] = {}
        self.row = 0
        for raw in case["signals"]:
            sig = Signal(raw["type"], **{k: raw[k] for k in ("side", "size", "price", "stop", "valid_for", "stop_loss",
                                                             "take_profit", "trail_pct", "symbol", "reason")})
            if raw["alert"] is None:
                self.by_row.setdefault(raw["at"], []).append(sig)
            else:
                self.by_alert.setdefault(case["alerts"][raw["alert"]]["id"], []).append(sig)

    def on_alert(self, alert, ctx):  # type: ignore[no-untyped-def]
        return self.by_alert.get(alert.id)

    def on_candle(self, candle, ctx):  # type: ignore[no-untyped-def]
        out = self.by_row.get(self.row)
        self.row += 1
        return out


class _BatchReplayer(StrategyPlugin):
    """The same signals from on_batch: candle answers by index, alert answers keyed by the alert itself."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.answers = [(raw["at"], raw["alert"], Signal(raw["type"], **{k: raw[k] for k in (
            "side", "size", "price", "stop", "valid_for", "stop_loss", "take_profit", "trail_pct", "symbol",
            "reason")})) for raw in case["signals"]]

    def on_batch(self, batch, ctx):  # type: ignore[no-untyped-def]
        return [(at if alert is None else batch.alerts[alert], sig) for at, alert, sig in self.answers]


@pytest.mark.parametrize("mode", ["per_candle", "on_batch"])
@pytest.mark.parametrize("case", ORDERS, ids=[c["name"] for c in ORDERS])
def test_python_sdk_mirror_follows_the_order_vectors(case, mode):
    driver = StrategyDriver(_Replayer(case) if mode == "per_candle" else _BatchReplayer(case))
    driver.initialize({"config": {}, "run_id": "v", "run": {"history": 5, "symbols": case["symbols"],
                                                             "rules": case["rules"]}})
    out = driver.candles(_batch_params(case))
    expect = case["expect"]
    got = parse_batch_result(out, len(case["candles"]), len(case["alerts"])).signals
    assert [r._asdict() for r in got] == case["signals"]
    assert math.isclose(out["book"]["cash"], expect["cash"], rel_tol=1e-12)
    assert out["book"]["positions"] == expect["positions"]
    book = driver.book
    assert (book.ignored, book.rejected, book.expired) == (expect["ignored"], expect["rejected"], expect["expired"])


def _vector(name: str) -> Any:
    return from_json(next(v for v in FRAMES if v["name"] == name)["message"])


def test_signal_columns_and_maps_parse_to_the_same_records():
    maps = parse_batch_result(_vector("candles_response")[3], 3, 1)
    columns = parse_batch_result(_vector("candles_response_columns")[3], 3, 1)
    assert columns.signals == maps.signals
    assert columns.book == maps.book
    assert [r._asdict() for r in columns.signals] == _vector("candles_response")[3]["signals"]


def test_python_sdk_encodes_signals_as_the_columns_vector():
    signals = SignalColumns()
    for raw in _vector("candles_response")[3]["signals"]:
        sig = Signal(raw["type"], **{k: raw[k] for k in ("side", "size", "price", "stop", "valid_for", "stop_loss",
                                                         "take_profit", "trail_pct", "symbol", "reason")})
        signals.append((raw["at"], raw["alert"], sig))
    assert same(signals.to_wire(), _vector("candles_response_columns")[3]["signals"])


@pytest.mark.parametrize("bad", [{"size": math.nan}, {"side": "sideways"}, {"valid_for": 0}, {"valid_for": 1.5},
                                 {"size": True}, {"reason": 7}, {"symbol": 3}, {"price": "1"}])
def test_signals_the_columns_cannot_carry_fall_back_to_maps_and_the_host_still_refuses_them(bad):
    sig = Signal("entry")
    for key, value in bad.items():
        object.__setattr__(sig, key, value)  # what a careless plugin can put in a Signal's slots
    signals = SignalColumns([(0, None, sig)])
    wire = signals.to_wire()
    assert isinstance(wire, list) and wire[0] == signal_map(sig, 0, None)
    try:
        result = parse_batch_result({"signals": wire}, 1, 0)
    except ProtocolViolation:
        return  # refused while parsing
    from plughost_sdk.orders import signal_problem
    if "reason" in bad:  # a reason is free text: the host keeps its repr, as for version 2's maps
        assert result.signals[0].reason == "7"
        return
    assert signal_problem(result.signals[0], frozenset({"A"})) is not None


@pytest.mark.parametrize(("column", "values", "message"), [
    ("at", [5], "outside the batch"), ("at", [-1], "outside the batch"), ("type", [2], "type code"),
    ("side", [3], "side code"), ("alert", [1], "not an alert"), ("alert", [-2], "not an alert"),
    ("reason", [4], "outside"), ("symbol", [0], "outside"), ("size", [], "holds 0 values"),
    ("at", [0, 0], "holds 2 values"),
])
def test_host_refuses_bad_signal_columns(column, values, message):
    cols: dict[str, Any] = {"n": 1, "at": struct.pack("<i", 0), "alert": struct.pack("<i", -1), "type": b"\0",
                            "side": b"\0", "valid_for": struct.pack("<i", 0), "symbol": struct.pack("<i", -1),
                            "symbol_dict": [], "reason": struct.pack("<i", -1), "reason_dict": ["r"],
                            **{k: struct.pack("<d", math.nan) for k in ("size", "price", "stop", "stop_loss",
                                                                        "take_profit", "trail_pct")}}
    fmt = {"type": "B", "side": "B", "size": "d"}.get(column, "i")
    cols[column] = struct.pack(f"<{len(values)}{fmt}", *values)
    with pytest.raises(ProtocolViolation, match=message):
        parse_batch_result({"signals": cols}, 3, 1)


def test_plain_column_signals_skip_only_checks_that_cannot_fail():
    """The host skips `signal_problem` for column signals carrying only a type and a side (BatchResult.
    suspects): pin that the order rules accept every such signal, so a new rule cannot be bypassed."""
    from plughost_sdk.orders import signal_problem

    signals = SignalColumns()
    for k, (kind, side) in enumerate((t, s) for t in ("entry", "exit") for s in (None, "long", "short")):
        signals.append((k, None, Signal(kind, side=side)))
    signals.append((6, None, Signal("entry", size=-1.0)))
    signals.append((6, 0, Signal("exit")))
    result = parse_batch_result({"signals": signals.to_wire()}, 7, 1)
    assert result.suspects == [6, 7]
    for i, sig in enumerate(result.signals[:6]):
        assert signal_problem(sig, frozenset({"A"})) is None, i


def test_load_error_vector_is_what_the_python_sdk_sends_and_the_host_reads(tmp_path):
    from plughost.protocol.messages import LoadFailure
    from plughost_sdk._loaderror import load_error

    [vector] = [v for v in FRAMES if v["name"] == "load_error_notification"]
    params = vector["message"][2]
    failure = LoadFailure.parse(params)
    assert (failure.kind, failure.line, failure.column, failure.source) == ("syntax", 12, 10, "    if x = 1:")
    source = tmp_path / "strategy.py"
    source.write_text("x = 1\nif x = 1:\n    pass\n")
    try:
        compile(source.read_text(), str(source), "exec")
    except SyntaxError as exc:
        sent = load_error(exc, source)
    assert list(sent) == list(params)  # the same keys, in the vector's order (PROTOCOL.md section 3)
    assert (sent["kind"], sent["line"], sent["source"], sent["file"]) == ("syntax", 2, "if x = 1:", str(source))
