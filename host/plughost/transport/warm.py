"""Warm starts: Python plugins forked from a fork server that has the SDK imported, instead of a new
interpreter each (PySpark's worker daemon does the same). Each plugin is still its own process in its
own session, serving one run: isolation and module state are those of a cold start.

A `WarmSpawner` is passed in where plugins are started (the batch runner's workers make one per worker
process); plugins in other languages, sandboxed ones, or any start the server cannot serve, start cold.
"""

from __future__ import annotations

import atexit

from ..errors import PluginSpawnFailed
from ..protocol.framing import DEFAULT_MAX_FRAME
from .env import make_undumpable
from .forkserver import ForkServer
from .process import LaunchSpec, PluginProcess


class WarmSpawner:
    """Serves Python plugin starts from a fork server (started now, so the first run is warm; restarted
    when it died). `close()` stops it; so does the host's exit."""

    warm = True

    def __init__(self) -> None:
        self.server = ForkServer(DEFAULT_MAX_FRAME)
        self._closed = False
        atexit.register(self.close)

    def spawn(self, spec: LaunchSpec, *, max_frame: int = DEFAULT_MAX_FRAME) -> PluginProcess:
        # Sandboxed plugins never come from the fork server: their namespaces are made at exec time
        # (sandbox.py); the server speaks only the default frame size.
        if spec.sandbox or spec.language != "python" or max_frame != DEFAULT_MAX_FRAME:
            return PluginProcess.spawn(spec, max_frame=max_frame)
        make_undumpable()
        if not self.server.alive:
            self.server = ForkServer(DEFAULT_MAX_FRAME)
        try:
            return self.server.spawn(spec)
        except PluginSpawnFailed:  # a warm start is an optimisation, never a requirement
            return PluginProcess.spawn(spec, max_frame=max_frame)

    def close(self) -> None:
        atexit.unregister(self.close)
        if not self._closed:
            self._closed = True
            self.server.close()
