"""The program the host starts for a Python plugin: `python -m plughost_sdk`.

Order matters: protect the protocol streams first, then load the plugin, then say hello, then serve.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib.util
import inspect
import os
import signal
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from . import __version__
from ._codec import NOTIFICATION, REQUEST, check_message, decode, encode, error_map
from ._driver import FeatureDriver, HookError, StrategyDriver
from ._framing import DEFAULT_MAX_FRAME, FrameError, FrameReader, write_frame
from ._loaderror import load_error, print_load_error
from ._plugin import COOKIE, COOKIE_VAR, FeaturePlugin, StrategyPlugin
from ._types import BacktestResults

PROTOCOL_VERSION = 3
_PR_SET_PDEATHSIG = 1


class LoadError(Exception):
    pass


def _protect_stdio() -> tuple[int, int]:
    """Keep the real stdin/stdout for the protocol; give plugin code /dev/null and stderr instead."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return proto_in, proto_out


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the stdin-EOF rule still ends us
    expected = os.environ.get("PLUGHOST_HOST_PID")
    if expected and os.getppid() != int(expected):
        os._exit(1)  # the host died before prctl took effect


def _load_module(entry: Path, name: str) -> ModuleType:
    if not entry.is_file():
        raise LoadError("the entry file does not exist")
    sys.path.insert(0, str(entry.parent))
    module_name = "plughost_plugin_" + "".join(c if c.isalnum() else "_" for c in name)
    spec = importlib.util.spec_from_file_location(module_name, entry)
    if spec is None or spec.loader is None:
        raise LoadError("cannot import the entry file as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _find_plugin(module: ModuleType, entry: Path) -> StrategyPlugin | FeaturePlugin:
    exported = getattr(module, "plugin", None)
    if isinstance(exported, StrategyPlugin | FeaturePlugin):
        return exported
    classes = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, StrategyPlugin | FeaturePlugin)
        and obj not in (StrategyPlugin, FeaturePlugin) and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise LoadError(
            f"no plugin found: the module must export an instance named `plugin` or define exactly one "
            f"subclass of StrategyPlugin or FeaturePlugin (found: {found})"
        )
    return classes[0]()


class Runner:
    def __init__(self, plugin: StrategyPlugin | FeaturePlugin, reader: FrameReader, proto_out: int):
        self.plugin = plugin
        self.out = proto_out
        self.reader = reader
        self.strategy = StrategyDriver(plugin) if isinstance(plugin, StrategyPlugin) else None
        self.feature = FeatureDriver(plugin) if isinstance(plugin, FeaturePlugin) else None

    def send(self, message: Any) -> None:
        write_frame(self.out, encode(message))

    def hello(self) -> None:
        methods = (self.strategy or self.feature).methods  # type: ignore[union-attr]
        self.send([NOTIFICATION, "hello", {
            "protocol": PROTOCOL_VERSION,
            "sdk": "plughost-sdk-python",
            "sdk_version": __version__,
            "plugin": {"name": type(self.plugin).name, "version": type(self.plugin).version,
                       "type": self.plugin.plugin_type},
            "methods": methods,
            "pid": os.getpid(),
        }])

    def serve(self) -> int:
        while True:
            body = self.reader.read()
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
        return _post_run_result(out)


def _post_run_result(out: Any) -> dict[str, Any]:
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


def _report_load_error(name: str, error: dict[str, Any], proto_out: int) -> int:
    """Tell the host why the plugin cannot start (a `load_error` notification instead of `hello`), say
    it on stderr too, and exit 1."""
    print_load_error(name, error)
    with contextlib.suppress(OSError):
        write_frame(proto_out, encode([NOTIFICATION, "load_error", error]))
    return 1


def _quick_exit(code: int) -> NoReturn:
    """Run atexit handlers (plugin teardown) and flush, then skip the interpreter's slow finalization:
    it would add tens of milliseconds to every plugin stop for nothing."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main() -> int:
    if os.environ.get(COOKIE_VAR) != COOKIE:
        print("This is the plughost plugin runner: plugins are started by `plughost run` "
              "(see `plughost --help`), not by hand.", file=sys.stderr)
        return 1
    if os.environ.get("PLUGHOST_FORK_SERVER_FD"):
        from ._forkserver import main as fork_server

        fd = int(os.environ.pop("PLUGHOST_FORK_SERVER_FD"))
        _die_with_parent()
        return fork_server(fd)
    proto_in, proto_out = _protect_stdio()
    _die_with_parent()
    faulthandler.enable(file=sys.stderr)
    # The host sends SIGUSR1 to a plugin that does not answer in time, just before it kills it: the dump
    # (written from a C handler, so even while Python code spins) is the stack the timeout error shows.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    reader = FrameReader(proto_in, int(os.environ.get("PLUGHOST_MAX_FRAME", DEFAULT_MAX_FRAME)))
    entry = Path(os.environ.get("PLUGHOST_PLUGIN_ENTRY", ""))
    name = os.environ.get("PLUGHOST_PLUGIN_NAME", entry.stem)
    versions = [int(v) for v in os.environ.get("PLUGHOST_PROTOCOL_VERSIONS", "3").split(",") if v.strip()]
    if PROTOCOL_VERSION not in versions:
        print(f"plughost-sdk-python {__version__} speaks protocol {PROTOCOL_VERSION}, the host offers "
              f"{versions}: upgrade the SDK or the host so they share a version.", file=sys.stderr)
        return 1
    try:
        plugin = _find_plugin(_load_module(entry, name), entry)
    except LoadError as exc:
        return _report_load_error(name, load_error(exc, entry, kind="no_plugin"), proto_out)
    except Exception as exc:
        return _report_load_error(name, load_error(exc, entry), proto_out)
    runner = Runner(plugin, reader, proto_out)
    runner.hello()  # the host checks the interface from `methods` (a strategy without on_candle is refused there)
    try:
        code = runner.serve()
        _quick_exit(code)
    except FrameError as exc:
        print(f"plughost: protocol error from the host: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0  # the host went away while we were answering
