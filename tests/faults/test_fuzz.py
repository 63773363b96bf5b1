"""Fuzzing the host's frame decoder and message validators with Hypothesis.

Only `ProtocolViolation` may escape, and no input may take over 1 s. The quick profile runs in
`make test` (400 examples per target, 2,400 in all); `PLUGHOST_FUZZ_EXAMPLES=100000 pytest
tests/faults/test_fuzz.py` is the nightly size (that many per target, 600,000 inputs in all).
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import timedelta
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plughost.protocol.codec import decode_message, to_message
from plughost.protocol.framing import FrameDecoder, ProtocolViolation, encode_frame
from plughost.protocol.messages import Hello, parse_batch_result

EXAMPLES = int(os.environ.get("PLUGHOST_FUZZ_EXAMPLES", "400"))  # per target; 6 Hypothesis targets
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=1), database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=True) | st.text(max_size=8) | st.binary(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
# Values shaped like messages, so the validator's deeper branches are reached too.
message_like = st.one_of(
    st.tuples(st.sampled_from([0, 1, 2, 3, -1, "1"]), values, values, values).map(list),
    st.tuples(st.sampled_from([0, 1, 2]), st.integers(-5, 2**33), values).map(list),
    st.lists(values, max_size=6),
    values,
)
hello_like = st.fixed_dictionaries(
    {}, optional={"protocol": values | st.integers(0, 3), "sdk": values, "sdk_version": values, "pid": values,
                  "methods": values | st.lists(st.text(max_size=10), max_size=4),
                  "plugin": values | st.fixed_dictionaries({}, optional={
                      "name": values, "version": values, "type": st.sampled_from(["strategy", "feature", "x"])})},
) | values
signal_like = st.fixed_dictionaries({}, optional={
    "at": values | st.integers(-2, 12) | st.floats(), "alert": values | st.integers(-1, 3),
    "type": st.sampled_from(["entry", "exit", "hold"]) | values, "price": values | st.floats(),
    "size": values | st.floats(), "reason": values})
# Protocol 3's signal columns: the right keys with random bytes (any length), counts and dictionaries.
column_bytes = st.binary(max_size=24) | values
signal_columns_like = st.fixed_dictionaries({"n": st.integers(-1, 3) | values}, optional={
    **{k: column_bytes for k in ("at", "alert", "type", "side", "size", "price", "stop", "valid_for", "stop_loss",
                                 "take_profit", "trail_pct", "symbol", "reason")},
    "symbol_dict": st.lists(st.text(max_size=3), max_size=2) | values,
    "reason_dict": st.lists(st.text(max_size=3), max_size=2) | values})
batch_result_like = st.fixed_dictionaries({}, optional={
    "signals": st.lists(signal_like, max_size=4) | signal_columns_like | values,
    "position": values | st.fixed_dictionaries({}, optional={
        "entry_price": values | st.floats(), "size": values | st.floats(), "entry_timestamp": values | st.floats()}),
}) | values


def only_protocol_violation(fn: Any, *args: Any) -> None:
    began = time.monotonic()
    with contextlib.suppress(ProtocolViolation):
        fn(*args)
    assert time.monotonic() - began < 1.0


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=12), st.integers(1, 4096))
def test_frame_decoder_on_arbitrary_chunks(chunks: list[bytes], max_frame: int) -> None:
    decoder = FrameDecoder(max_frame)
    try:
        for chunk in chunks:
            for body in decoder.feed(chunk):
                assert 1 <= len(body) <= max_frame
                only_protocol_violation(decode_message, body)
        decoder.check_eof()
    except ProtocolViolation:
        pass


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4),
       st.lists(st.integers(0, 200), max_size=8))
def test_frame_split_points_never_change_the_frames(bodies: list[bytes], raw_cuts: list[int]) -> None:
    stream = b"".join(encode_frame(b) for b in bodies)
    cuts = sorted(min(c, len(stream)) for c in raw_cuts)
    decoder = FrameDecoder(1 << 20)
    got: list[bytes] = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:stop])
    decoder.check_eof()
    assert got == bodies


@FUZZ
@given(st.binary(max_size=256))
def test_decode_message_on_arbitrary_bytes(body: bytes) -> None:
    only_protocol_violation(decode_message, body)


@FUZZ
@given(message_like)
def test_decode_message_on_well_formed_msgpack(value: Any) -> None:
    only_protocol_violation(decode_message, msgpack.packb(value, use_bin_type=True))


@FUZZ
@given(hello_like)
def test_hello_validator(params: Any) -> None:
    only_protocol_violation(Hello.parse, params)


@FUZZ
@given(batch_result_like, st.integers(0, 10), st.integers(0, 3))
def test_batch_result_validator(result: Any, n: int, alerts: int) -> None:
    only_protocol_violation(parse_batch_result, result, n, alerts)


@pytest.mark.parametrize("depth", [10, 500, 999, 1000, 1023, 1024, 1025, 3000, 100_000])
def test_deep_nesting_is_refused_by_type(depth: int) -> None:
    """Deeply nested arrays and maps: msgpack's own stack limit, and Python's recursion limit in whatever
    inspects the decoded value (repr in an error message, for one)."""
    for opener in (b"\x91", b"\x81\xa1k"):
        only_protocol_violation(decode_message, opener * depth + b"\xc0")
    nested: Any = None
    for _ in range(min(depth, 5000)):
        nested = [nested]
    with pytest.raises(ProtocolViolation):
        to_message(nested)


_COLUMN_SIZES = {"at": 4, "alert": 4, "type": 1, "side": 1, "size": 8, "price": 8, "stop": 8, "valid_for": 4,
                 "stop_loss": 8, "take_profit": 8, "trail_pct": 8, "symbol": 4, "reason": 4}


@st.composite
def well_sized_columns(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(0, 4))
    cols: dict[str, Any] = {"n": n}
    for name, size in _COLUMN_SIZES.items():
        cols[name] = draw(st.binary(min_size=n * size, max_size=n * size))
    cols["symbol_dict"] = draw(st.lists(st.text(max_size=3), max_size=3))
    cols["reason_dict"] = draw(st.lists(st.text(max_size=3), max_size=3))
    return cols


@FUZZ
@given(well_sized_columns(), st.integers(0, 10), st.integers(0, 3))
def test_signal_columns_with_random_contents(cols: dict[str, Any], n: int, alerts: int) -> None:
    """Columns of the right length but any bytes: refused or parsed into checked records, never a crash."""
    try:
        result = parse_batch_result({"signals": cols}, n, alerts)
    except ProtocolViolation:
        return
    for sig in result.signals:
        assert 0 <= sig.at < n and sig.type in ("entry", "exit") and sig.side in (None, "long", "short")
        assert sig.alert is None or 0 <= sig.alert < alerts
        assert sig.valid_for is None or type(sig.valid_for) is int
