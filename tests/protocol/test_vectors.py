"""The shared protocol vectors, decoded and re-encoded byte for byte by the host and the Python SDK."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plughost.executor.fills import Book
from plughost.protocol import codec as host_codec
from plughost.protocol.framing import FrameDecoder, ProtocolViolation, encode_frame
from plughost_sdk import _codec as sdk_codec
from plughost_sdk._framing import FrameError, FrameReader
from plughost_sdk._position import PositionMirror

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
FRAMES = json.loads((VECTORS / "frames.json").read_text())
BAD = json.loads((VECTORS / "bad_frames.json").read_text())
MIRROR = json.loads((VECTORS / "position_mirror.json").read_text())


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


def _replay(case: dict[str, Any], apply: Any) -> list[tuple[str, float | None, float | None]]:
    candles, alerts = case["candles"], case["alerts"]
    out = []
    for s in case["signals"]:
        if s["alert"] is None:
            c = candles[s["at"]]
            out.append(apply(s, c["close"], c["low"], c["high"], c["timestamp"]))
        else:
            a = alerts[s["alert"]]
            nxt = candles[s["at"]] if s["at"] < len(candles) else None
            fill = a["price"] if a["price"] is not None else (nxt["open"] if nxt else None)
            out.append(apply(s, fill, nxt["low"] if nxt else None, nxt["high"] if nxt else None, a["timestamp"]))
    return out


@pytest.mark.parametrize("case", MIRROR, ids=[c["name"] for c in MIRROR])
def test_sdk_position_mirror_vectors(case):
    mirror = PositionMirror(case["run_size"])
    results = _replay(case, lambda s, fill, lo, hi, ts: mirror.apply(
        s["type"], s["price"], s["size"], default_fill=fill, low=lo, high=hi, timestamp=ts))
    expect = case["expect"]
    assert [r[0] for r in results] == expect["outcomes"]
    assert [r[1] for r in results] == expect["fill_prices"]
    assert [r[2] for r in results] == expect["fill_sizes"]
    assert (mirror.ignored, mirror.rejected) == (expect["ignored"], expect["rejected"])
    assert mirror.snapshot() == expect["position"]


@pytest.mark.parametrize("case", MIRROR, ids=[c["name"] for c in MIRROR])
def test_host_book_follows_the_same_vectors(case):
    book = Book("X", case["run_size"])
    outcomes = _replay(case, lambda s, fill, lo, hi, ts: book.apply(
        s["type"], s["price"], s["size"], default_fill=fill, low=lo, high=hi, timestamp=ts, reason=None))
    expect = case["expect"]
    assert outcomes == expect["outcomes"]
    fills = [(t.exit_price, t.size) for t in book.trades]
    rows = zip(expect["outcomes"], expect["fill_prices"], expect["fill_sizes"], case["signals"], strict=True)
    expected_exits = [(p, q) for o, p, q, s in rows if o == "filled" and s["type"] == "exit"]
    assert fills == expected_exits
    assert (book.ignored, book.rejected) == (expect["ignored"], expect["rejected"])
    position = None if book.size <= 0 else {"entry_price": book.entry_price, "size": book.size,
                                             "entry_timestamp": book.entry_time}
    assert position == expect["position"]


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
