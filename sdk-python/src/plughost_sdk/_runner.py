"""The stdio runner: one plugin process's life, with the protocol on its stdin/stdout (PROTOCOL.md section 1).

Order matters: protect the protocol streams first, then load the plugin, then say hello, then serve. The
conversation itself is the `Server`'s; this module only wires it to the process's descriptors.
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from . import __version__
from ._framing import DEFAULT_MAX_FRAME, FrameError, FrameReader, write_frame
from ._loader import LoadError, find_plugin, load_module
from ._loaderror import load_error
from ._parent import die_with_parent
from ._server import PROTOCOL_VERSION, SDK_NAME, Server, report_load_error


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
    """Run the plugin named by the environment (PROTOCOL.md section 1); returns the exit code."""
    proto_in, proto_out = _protect_stdio()
    die_with_parent()
    faulthandler.enable(file=sys.stderr)
    # The host sends SIGUSR1 to a plugin that does not answer in time, just before it kills it: the dump
    # (written from a C handler, so even while Python code spins) is the stack the timeout error shows.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    reader = FrameReader(proto_in, int(os.environ.get("PLUGHOST_MAX_FRAME", DEFAULT_MAX_FRAME)))
    write = functools.partial(write_frame, proto_out)
    entry = Path(os.environ.get("PLUGHOST_PLUGIN_ENTRY", ""))
    name = os.environ.get("PLUGHOST_PLUGIN_NAME", entry.stem)
    versions = [int(v) for v in os.environ.get("PLUGHOST_PROTOCOL_VERSIONS", "3").split(",") if v.strip()]
    if PROTOCOL_VERSION not in versions:
        print(f"{SDK_NAME} {__version__} speaks protocol {PROTOCOL_VERSION}, the host offers "
              f"{versions}: upgrade the SDK or the host so they share a version.", file=sys.stderr)
        return 1
    try:
        plugin = find_plugin(load_module(entry, name))
    except LoadError as exc:
        return report_load_error(name, load_error(exc, entry, kind="no_plugin"), write)
    except Exception as exc:
        return report_load_error(name, load_error(exc, entry), write)
    server = Server(plugin, reader.read, write)
    server.hello()  # the host checks the interface from `methods` (a strategy without on_candle is refused there)
    try:
        code = server.serve()
        _quick_exit(code)
    except FrameError as exc:
        print(f"plughost: protocol error from the host: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0  # the host went away while we were answering
