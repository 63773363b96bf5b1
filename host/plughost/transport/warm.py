"""Warm starts: Python plugins forked from a fork server that has the SDK imported, instead of a new
interpreter each (PySpark's worker daemon does the same). Each plugin is still its own process in its
own session, serving one run: isolation and module state are those of a cold start.

Enabled per host process (the batch runner's workers call `enable_warm_starts()`); plugins in other
languages, or any start the server cannot serve, fall back to a cold start.
"""

from __future__ import annotations

import atexit

from ..errors import PluginSpawnFailed
from ..protocol.framing import DEFAULT_MAX_FRAME
from . import process as process_module
from .forkserver import ForkServer
from .process import LaunchSpec, PluginProcess

_SERVER: ForkServer | None = None


def _take(spec: LaunchSpec, max_frame: int) -> PluginProcess | None:
    global _SERVER
    if spec.language != "python" or max_frame != DEFAULT_MAX_FRAME:
        return None
    if _SERVER is None or not _SERVER.alive:
        _SERVER = ForkServer(DEFAULT_MAX_FRAME)
    try:
        return _SERVER.spawn(spec)
    except PluginSpawnFailed:
        return None  # the caller starts it cold: a warm start is an optimisation, never a requirement


def enable_warm_starts() -> ForkServer:
    """Serve this process's Python plugin starts from a fork server (started now, so the first run is warm)."""
    global _SERVER
    if _SERVER is None or not _SERVER.alive:
        _SERVER = ForkServer(DEFAULT_MAX_FRAME)
        atexit.register(disable_warm_starts)
    process_module.warm_source = _take
    return _SERVER


def disable_warm_starts() -> None:
    global _SERVER
    process_module.warm_source = None
    if _SERVER is not None:
        _SERVER.close()
        _SERVER = None
