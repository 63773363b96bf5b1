"""Protocol garbage: whatever bytes a plugin writes, the host refuses them with a typed, quoted error."""

from __future__ import annotations

import math
import resource
import time
import tracemalloc
from typing import Any

import pytest
from plughost.client.proxies import StrategyProxy, Timeouts, start_plugin
from plughost.errors import FrameTooLarge
from plughost.protocol.framing import FrameDecoder, FrameSizeViolation
from plughost.transport.process import LaunchSpec

from tests.faults.conftest import FIXTURES, LANGS, STRATEGY, TOKEN, TOKEN_VAR, Runner, failed_error

CLEAN = "faulty-py"


def raw_spec(fault: str) -> LaunchSpec:
    return LaunchSpec("raw-wire", "strategy", "python", FIXTURES / "python" / "raw_wire.py", FIXTURES / "python",
                      {TOKEN_VAR: TOKEN, "FAULT": fault})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("lang", [pytest.param("raw", id="py-raw"), *LANGS[1:]])
def test_bytes_before_the_handshake_are_quoted(runner: Runner, lang: str) -> None:
    # Python: a plugin writing to the protocol pipe itself (the SDK runner moves `print` to stderr).
    name = "raw-wire" if lang == "raw" else STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "garbage_before_hello")
    assert time.monotonic() - began < 3.0
    assert outcome.status == "failed"
    error = outcome.summary["error"]
    # Read as a length header, `hell` announces ~1.7 GB: refused as a frame, and the message shows the bytes.
    assert error["code"] == "PLUGIN_FRAME_TOO_LARGE" and error["plugin"] == name
    assert "'hello\\n" in error["message"]  # quoted from the first byte (more may follow)
    runner.assert_clean_run_identical(CLEAN)


def test_wrong_protocol_version(runner: Runner) -> None:
    error = failed_error(runner.run("raw-wire", "wrong_version"), "PLUGIN_HANDSHAKE_FAILED", "raw-wire")
    assert "protocol version 99" in error["message"] and "speaks 2" in error["message"]
    runner.assert_clean_run_identical(CLEAN)


def test_four_gib_frame_refused_before_allocating(runner: Runner) -> None:
    before = peak_rss_mb()
    outcome = runner.run("raw-wire", "frame_4gib")
    error = failed_error(outcome, "PLUGIN_FRAME_TOO_LARGE", "raw-wire")
    assert "4294967295" in error["message"]
    assert peak_rss_mb() - before < 10, "the host's peak RSS grew: it allocated for the announced frame"
    runner.assert_clean_run_identical(CLEAN)


def test_decoder_refuses_huge_headers_without_allocating() -> None:
    for header in (b"\xff\xff\xff\xff", (64 * 2**20 + 1).to_bytes(4, "big")):
        decoder = FrameDecoder()
        tracemalloc.start()
        try:
            with pytest.raises(FrameSizeViolation):
                decoder.feed(header + b"\x00" * 5)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 64 * 1024


def test_frame_over_the_configured_maximum() -> None:
    proxy = start_plugin(raw_spec("frame_over_max"), timeouts=Timeouts(start=5.0, call=5.0, term_grace=1.0),
                         max_frame=1 << 20)
    pid = proxy.session.process.pid
    with pytest.raises(FrameTooLarge) as info:
        proxy.initialize({}, "r")
    assert "1048577" in str(info.value) and "maximum is 1048576" in str(info.value)
    assert info.value.plugin == "raw-wire"
    assert proxy.session.process.poll() is not None and pid  # killed at once
    proxy.close()


def test_truncated_frame_then_eof(runner: Runner) -> None:
    began = time.monotonic()
    error = failed_error(runner.run("raw-wire", "truncated_eof"), "PLUGIN_PROTOCOL_ERROR", "raw-wire")
    assert time.monotonic() - began < 3.0
    assert "truncated frame" in error["message"]
    runner.assert_clean_run_identical(CLEAN)


@pytest.mark.parametrize("fault", ["msgpack_c1", "deep_nesting", "map_overclaim"])
def test_invalid_msgpack(runner: Runner, fault: str) -> None:
    error = failed_error(runner.run("raw-wire", fault), "PLUGIN_PROTOCOL_ERROR", "raw-wire")
    assert "invalid msgpack" in error["message"]
    runner.assert_clean_run_identical(CLEAN)


@pytest.mark.parametrize("fault", ["unknown_id", "dup_response"])
def test_response_to_unknown_id_and_duplicate_response(runner: Runner, fault: str) -> None:
    error = failed_error(runner.run("raw-wire", fault), "PLUGIN_PROTOCOL_ERROR", "raw-wire")
    assert "unexpected response" in error["message"]
    runner.assert_clean_run_identical(CLEAN)


EDGE_VALUES: list[Any] = [
    2**53 - 1, 2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 2**63 - 1, -(2**63), 2**64 - 1, 0.1, 3.5,
    math.nan, math.inf, -math.inf, 1e308, 5e-324, "", ["", ""], b"\x00\xff", {"k": [2**60, math.nan]},
]


def same(a: Any, b: Any) -> bool:
    """Exactly the same value. PROTOCOL.md section 3 lets an integral float come back as an int and an int
    as an integral float (JavaScript has one number type), as long as the value is exactly equal."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a).is_integer() and float(b).is_integer() and int(a) == int(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def echo_proxy(lang: str) -> StrategyProxy:
    path = FIXTURES / ("python/faulty.py" if lang == "py" else "node/faulty.js")
    spec = LaunchSpec(STRATEGY[lang], "strategy", "python" if lang == "py" else "javascript", path, path.parent,
                      {TOKEN_VAR: TOKEN})
    proxy = start_plugin(spec, timeouts=Timeouts(start=10.0, call=5.0, term_grace=1.0))
    assert isinstance(proxy, StrategyProxy)
    return proxy


@pytest.mark.parametrize("lang", LANGS)
def test_big_integers_and_non_finite_floats_round_trip_exactly(lang: str) -> None:
    proxy = echo_proxy(lang)
    try:
        for value in EDGE_VALUES:
            back = proxy.ping({"v": [value]})  # request params are a map (PROTOCOL.md section 4)
            assert same(back, {"v": [value]}), f"{value!r} came back as {back!r}"
    finally:
        proxy.close()


@pytest.mark.parametrize("lang", LANGS)
def test_negative_zero_keeps_its_sign(lang: str) -> None:
    proxy = echo_proxy(lang)
    try:
        back = proxy.ping({"v": -0.0})["v"]
        assert isinstance(back, float) and math.copysign(1.0, back) == -1.0, repr(back)
    finally:
        proxy.close()


@pytest.mark.parametrize("lang", LANGS)
def test_nan_price_signal_is_a_typed_error(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    error = failed_error(runner.run(name, "nan_price"), "PLUGIN_PROTOCOL_ERROR", name)
    assert "price" in error["message"].lower()
    runner.assert_clean_run_identical(name)
