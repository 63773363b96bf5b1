"""The plugin side of one conversation: hello, then requests answered one at a time, in order.

Independent of process stdio: it reads and writes whole frame bodies through two callables, so the stdio
runner (`_runner`) wires it to the protocol descriptors and tests wire it to memory.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from . import __version__
from ._codec import NOTIFICATION, REQUEST, check_message, decode, encode, error_map
from ._driver import FeatureDriver, HookError, StrategyDriver
from ._framing import FrameError
from ._loaderror import print_load_error
from ._plugin import FeaturePlugin, StrategyPlugin
from ._types import BacktestResults

PROTOCOL_VERSION = 3
SDK_NAME = "plughost-sdk-python"

# The next frame body from the host, or None at a clean end of stream; raises FrameError on bad framing.
ReadFrame = Callable[[], bytes | None]
# Writes one frame body (the callable adds the length prefix); must not reorder frames.
WriteFrame = Callable[[bytes], None]


class Server:
    def __init__(self, plugin: StrategyPlugin | FeaturePlugin, read_frame: ReadFrame, write_frame: WriteFrame,
                 *, pid: int | None = None) -> None:
        self.plugin = plugin
        self._read = read_frame
        self._write = write_frame
        self._pid = os.getpid() if pid is None else pid
        self.strategy = StrategyDriver(plugin) if isinstance(plugin, StrategyPlugin) else None
        self.feature = FeatureDriver(plugin) if isinstance(plugin, FeaturePlugin) else None

    def send(self, message: Any) -> None:
        self._write(encode(message))

    def hello(self) -> None:
        methods = (self.strategy or self.feature).methods  # type: ignore[union-attr]
        self.send([NOTIFICATION, "hello", {
            "protocol": PROTOCOL_VERSION,
            "sdk": SDK_NAME,
            "sdk_version": __version__,
            "plugin": {"name": type(self.plugin).name, "version": type(self.plugin).version,
                       "type": self.plugin.plugin_type},
            "methods": methods,
            "pid": self._pid,
        }])

    def serve(self) -> int:
        """Answers requests until `shutdown` or the end of the host's stream; returns the exit code.
        A FrameError (broken stream, not a message) ends the conversation: the caller reports it."""
        while True:
            body = self._read()
            if body is None:
                return 0  # the host closed our stdin: it is gone or done with us
            message = check_message(decode(body))
            if message[0] not in (REQUEST, NOTIFICATION):
                raise FrameError(f"unexpected message from host: {message!r:.200}")
            if message[0] == REQUEST:
                _, msgid, method, params = message
                try:
                    result = self.dispatch(method, params if params is not None else {})
                except HookError as exc:
                    self.send([1, msgid, self._error(exc.cause, exc.hook, exc.at), None])
                except Exception as exc:
                    self.send([1, msgid, self._error(exc, method, None), None])
                else:
                    self.send([1, msgid, None, result])
                if method == "shutdown":
                    return 0
            else:
                _, method, params = message
                try:
                    self.notify(method, params or {})
                except HookError as exc:
                    # `count` (an extra key, ignored by hosts that do not know it): how many events of
                    # this notification failed; only the first one's error is sent.
                    self.send([NOTIFICATION, "hook_error",
                               {"hook": exc.hook, "error": self._error(exc.cause, exc.hook, exc.at),
                                "count": exc.count}])

    @staticmethod
    def _error(exc: BaseException, hook: str | None, at: int | None) -> dict[str, Any]:
        tb = "".join(traceback.format_exception(exc))
        return error_map(type(exc).__name__, str(exc), tb, hook, at)

    def dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method == "shutdown":
            return None
        if method == "ping":
            return params
        if self.strategy is not None:
            if method == "initialize":
                return self.strategy.initialize(params)
            if method == "candles":
                return self.strategy.candles(params)
        elif self.feature is not None:
            if method == "initialize":
                return self.feature.call("initialize", dict(params.get("config") or {}))
            if method == "pre_run":
                return self._pre_run(params)
            if method == "post_run":
                return self._post_run(params)
        raise ValueError(f"unknown method {method!r} for a {self.plugin.plugin_type} plugin")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.feature is None:
            return
        if method == "candles":
            self.feature.candles(params)
        elif method == "trades":
            self.feature.trades(params)

    def _pre_run(self, params: dict[str, Any]) -> Any:
        assert self.feature is not None
        if "on_pre_run" not in self.feature.methods:
            return None
        config = self.feature.call("on_pre_run", dict(params.get("config") or {}))
        if config is None:
            return None
        if not isinstance(config, dict):
            raise TypeError(f"on_pre_run must return a dict or None, not {type(config).__name__}")
        return {"config": config}

    def _post_run(self, params: dict[str, Any]) -> Any:
        assert self.feature is not None
        if "on_post_run" not in self.feature.methods:
            return None
        out = self.feature.call("on_post_run", BacktestResults.from_wire(params.get("results") or {}))
        if out is None:
            return None
        return post_run_result(out)


def post_run_result(out: Any) -> dict[str, Any]:
    """What on_post_run returned, as the protocol carries it: metrics as floats (numpy numbers too) or None,
    artifacts as str/bytes. Anything else is the hook's error, named here rather than as an encoding
    failure later."""
    if not isinstance(out, Mapping):
        raise TypeError(f"on_post_run must return a dict or None, not {type(out).__name__}")
    metrics: dict[str, float | None] = {}
    for key, value in dict(out.get("metrics") or {}).items():
        if value is None:  # "cannot be computed here": written as null in summary.json
            metrics[str(key)] = None
            continue
        try:
            metrics[str(key)] = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"on_post_run metric {key!r} must be a number, not {type(value).__name__} "
                            "(return other data as an artifact)") from None
    artifacts: dict[str, str | bytes] = {}
    for name, content in dict(out.get("artifacts") or {}).items():
        if isinstance(content, bytearray | memoryview):
            content = bytes(content)
        if not isinstance(content, str | bytes):
            raise TypeError(f"on_post_run artifact {name!r} must be str or bytes, not {type(content).__name__}")
        artifacts[str(name)] = content
    return {"metrics": metrics, "artifacts": artifacts}


def report_load_error(name: str, error: dict[str, Any], write_frame: WriteFrame) -> int:
    """Tell the host why the plugin cannot start (a `load_error` notification instead of `hello`), say
    it on stderr too; returns the exit code, 1."""
    print_load_error(name, error)
    with contextlib.suppress(OSError):
        write_frame(encode([NOTIFICATION, "load_error", error]))
    return 1

