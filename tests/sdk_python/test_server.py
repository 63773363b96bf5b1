"""The Python SDK's Server in memory: frames in from a list, frames out to a list, no process, no fds."""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plughost.protocol.messages import parse_batch_result
from plughost_sdk import FeaturePlugin, Signal, StrategyPlugin
from plughost_sdk._codec import decode, encode
from plughost_sdk._framing import FrameError
from plughost_sdk._loaderror import load_error
from plughost_sdk._server import Server, report_load_error


class MemoryHost:
    """Queues the host's messages for the server to read and collects what it writes, decoded."""

    def __init__(self, plugin: StrategyPlugin | FeaturePlugin) -> None:
        self.incoming: deque[bytes] = deque()
        self.out: list[Any] = []
        self.server = Server(plugin, self._read, lambda body: self.out.append(decode(body)), pid=1234)
        self._ids: Iterator[int] = iter(range(1, 1 << 30))

    def _read(self) -> bytes | None:
        return self.incoming.popleft() if self.incoming else None  # an empty queue is the end of the stream

    def request(self, method: str, params: Any = None) -> int:
        msgid = next(self._ids)
        self.incoming.append(encode([0, msgid, method, params]))
        return msgid

    def notify(self, method: str, params: Any) -> None:
        self.incoming.append(encode([2, method, params]))

    def serve(self) -> int:
        return self.server.serve()

    def response(self, msgid: int) -> list[Any]:
        [found] = [m for m in self.out if m[0] == 1 and m[1] == msgid]
        return found


def candles(closes: list[float], symbol: str = "X", *, last: bool = False) -> dict[str, Any]:
    n = len(closes)
    prices = struct.pack(f"<{n}d", *closes)
    return {
        "symbols": [symbol], "offset": 0, "n": n, "last": last, "indicators": {}, "ends": [n - 1] if last else [],
        "alerts": [],
        "columns": {"timestamp": struct.pack(f"<{n}q", *range(1000, 1000 + 60_000 * n, 60_000)),
                    "symbol": struct.pack(f"<{n}i", *([0] * n)), "open": prices, "high": prices, "low": prices,
                    "close": prices, "volume": struct.pack(f"<{n}d", *([0.0] * n))},
    }


def initialize(config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"config": config or {}, "run_id": "r", "run": {"history": 5, "symbols": ["X"]}}


class Crossing(StrategyPlugin):
    name = "crossing"
    version = "1.2.3"

    def initialize(self, config: dict[str, Any]) -> None:
        self.threshold = config["threshold"]

    def on_candle(self, candle, ctx):  # type: ignore[no-untyped-def]
        if candle.close == 13:
            raise ZeroDivisionError("unlucky candle")
        return Signal.entry(reason="above") if candle.close > self.threshold else None


class Notes(FeaturePlugin):
    def on_pre_run(self, config: dict[str, Any]) -> Any:
        return "not a dict"

    def on_trade(self, trade):  # type: ignore[no-untyped-def]
        if trade.pnl < 0:
            raise ValueError(f"loss on {trade.symbol}")


def test_hello_names_the_plugin_and_lists_its_methods():
    host = MemoryHost(Crossing())
    host.server.hello()
    assert host.out == [[2, "hello", {
        "protocol": 3, "sdk": "plughost-sdk-python", "sdk_version": "0.1.0",
        "plugin": {"name": "crossing", "version": "1.2.3", "type": "strategy"},
        "methods": ["initialize", "on_candle"], "pid": 1234,
    }]]
    feature = MemoryHost(Notes())
    feature.server.hello()
    hello = feature.out[0][2]
    assert hello["plugin"] == {"name": None, "version": None, "type": "feature"}
    assert hello["methods"] == ["on_pre_run", "on_trade"]


def test_the_server_process_pid_is_the_default():
    host = MemoryHost(Crossing())
    host.server = Server(Crossing(), host._read, lambda body: host.out.append(decode(body)))
    host.server.hello()
    assert host.out[0][2]["pid"] == os.getpid()


def test_requests_are_answered_in_order_until_the_stream_ends():
    host = MemoryHost(Crossing())
    ping = host.request("ping", {"echo": [1, 2]})
    init = host.request("initialize", initialize({"threshold": 10}))
    batch = host.request("candles", candles([9.0, 11.0, 12.0], last=True))
    assert host.serve() == 0  # the end of the stream is a clean stop
    assert [m[1] for m in host.out] == [ping, init, batch]
    assert host.response(ping) == [1, ping, None, {"echo": [1, 2]}]
    assert host.response(init) == [1, init, None, None]
    _, _, error, result = host.response(batch)
    assert error is None
    signals = parse_batch_result(result, 3, 0).signals  # read as the host reads it
    assert [(s.at, s.type, s.reason) for s in signals] == [(1, "entry", "above"), (2, "entry", "above")]
    assert result["book"]["cash"] == 10000.0


def test_a_failing_hook_is_an_error_map_with_its_traceback_and_the_server_goes_on():
    host = MemoryHost(Crossing())
    host.request("initialize", initialize({"threshold": 10}))
    failed = host.request("candles", candles([12.0, 13.0, 14.0]))
    missing = host.request("initialize", initialize({}))
    after = host.request("ping", "still here")
    assert host.serve() == 0
    _, _, error, result = host.response(failed)
    assert result is None
    assert (error["type"], error["message"], error["hook"], error["at"]) == (
        "ZeroDivisionError", "unlucky candle", "on_candle", 1)
    assert 'raise ZeroDivisionError("unlucky candle")' in error["traceback"]
    assert error["traceback"].rstrip().endswith("ZeroDivisionError: unlucky candle")
    error = host.response(missing)[2]
    assert (error["type"], error["message"], error["hook"], error["at"]) == (
        "KeyError", "'threshold'", "initialize", None)
    assert host.response(after) == [1, after, None, "still here"]


def test_a_request_error_outside_a_hook_names_the_method():
    host = MemoryHost(Notes())
    pre = host.request("pre_run", {"config": {"strategy": "s"}})
    assert host.serve() == 0
    error = host.response(pre)[2]
    assert (error["type"], error["hook"]) == ("TypeError", "pre_run")
    assert error["message"] == "on_pre_run must return a dict or None, not str"


@pytest.mark.parametrize(("plugin", "method"), [(Crossing(), "pre_run"), (Notes(), "candles"), (Notes(), "frobnicate")])
def test_an_unknown_method_is_an_error_response_and_the_server_stays_up(plugin, method):
    host = MemoryHost(plugin)
    unknown = host.request(method, {})
    after = host.request("ping", 7)
    assert host.serve() == 0
    _, _, error, result = host.response(unknown)
    assert result is None
    assert error["type"] == "ValueError"
    assert error["message"] == f"unknown method {method!r} for a {plugin.plugin_type} plugin"
    assert host.response(after) == [1, after, None, 7]


def test_a_failing_notification_hook_is_one_hook_error_with_its_count():
    host = MemoryHost(Notes())
    trade = {"symbol": "X", "entry_time": 1, "entry_price": 10.0, "exit_time": 2, "exit_price": 9.0, "size": 1.0,
             "pnl": -1.0, "entry_reason": None, "exit_reason": None}
    host.notify("trades", {"trades": [trade, {**trade, "pnl": 2.0}, {**trade, "symbol": "Y"}]})
    host.notify("trades", {"trades": [{**trade, "pnl": 3.0}]})
    host.notify("unknown", {})  # a notification nobody handles is ignored
    assert host.serve() == 0
    assert len(host.out) == 1
    kind, method, params = host.out[0]
    assert (kind, method, params["hook"], params["count"]) == (2, "hook_error", "on_trade", 2)
    assert (params["error"]["message"], params["error"]["at"]) == ("loss on X", 0)


def test_shutdown_is_answered_and_ends_the_conversation():
    host = MemoryHost(Crossing())
    shutdown = host.request("shutdown")
    host.request("ping", "never read")
    assert host.serve() == 0
    assert host.out == [[1, shutdown, None, None]]
    assert len(host.incoming) == 1  # the server stopped reading at shutdown


@pytest.mark.parametrize("message", [[1, 1, None, None], [9, "x"], "not a list"])
def test_a_message_the_host_cannot_send_breaks_the_stream(message):
    host = MemoryHost(Crossing())
    host.incoming.append(encode(message))
    with pytest.raises(FrameError):
        host.serve()
    assert host.out == []


def test_a_load_error_is_a_notification_instead_of_hello(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    entry = tmp_path / "strategy.py"
    entry.write_text("import math\n\nvalue = math.sqrt(-1)\n")
    try:
        exec(compile(entry.read_text(), str(entry), "exec"), {})
    except ValueError as exc:
        error = load_error(exc, entry)
    out: list[Any] = []
    assert report_load_error("sqrt", error, lambda body: out.append(decode(body))) == 1
    [[kind, method, params]] = out
    assert (kind, method) == (2, "load_error")
    assert params == error
    assert (params["type"], params["kind"], params["line"], params["source"]) == (
        "ValueError", "raised", 3, "value = math.sqrt(-1)")
    assert f"cannot load plugin 'sqrt': {entry}:3: ValueError: math domain error" in capsys.readouterr().err


def test_a_load_error_is_still_printed_when_the_host_is_gone(capsys: pytest.CaptureFixture[str]):
    def gone(body: bytes) -> None:
        raise BrokenPipeError

    error = {"type": "LoadError", "message": "no plugin found", "kind": "no_plugin", "file": "/p/s.py", "line": None,
             "column": None, "source": None, "traceback": ""}
    assert report_load_error("s", error, gone) == 1
    assert "cannot load plugin 's': /p/s.py: LoadError: no plugin found" in capsys.readouterr().err
