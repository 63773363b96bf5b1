"""Warm starts: Python plugins forked from a fork server that has the SDK imported, instead of a new
interpreter each (PySpark's worker daemon does the same); Node plugins from a Node runner started ahead of
time that waits, SDK loaded, for the plugin it is to become (nodespare.py). Each plugin is still its own
process in its own session, serving one run: isolation and module state are those of a cold start.

A `WarmSpawner` is passed in where plugins are started (the batch runner's workers make one per worker
process); sandboxed plugins, or any start the server or the spares cannot serve, start cold.
"""

from __future__ import annotations

import atexit

from ..errors import PluginSpawnFailed
from ..protocol.framing import DEFAULT_MAX_FRAME
from .env import make_undumpable
from .forkserver import ForkServer
from .nodespare import NodeSpares
from .process import NODE_LANGUAGES, LaunchSpec, PluginProcess


class WarmSpawner:
    """Serves Python plugin starts from a fork server (started now, so the first run is warm; restarted
    when it died) and Node plugin starts from spares (the first one started by the first Node start, which
    is cold). `close()` stops both; so does the host's exit."""

    warm = True

    def __init__(self) -> None:
        self.server = ForkServer(DEFAULT_MAX_FRAME)
        self.node = NodeSpares()
        self._closed = False
        atexit.register(self.close)

    def spawn(self, spec: LaunchSpec, *, max_frame: int = DEFAULT_MAX_FRAME) -> PluginProcess:
        # Sandboxed plugins are never warm: their namespaces are made at exec time (sandbox.py).
        if spec.sandbox:
            return PluginProcess.spawn(spec, max_frame=max_frame)
        make_undumpable()
        if spec.language in NODE_LANGUAGES:
            process = self.node.spawn(spec, max_frame=max_frame)  # None: a warm start is never a requirement
            return process if process is not None else PluginProcess.spawn(spec, max_frame=max_frame)
        # The fork server speaks only the default frame size.
        if spec.language != "python" or max_frame != DEFAULT_MAX_FRAME:
            return PluginProcess.spawn(spec, max_frame=max_frame)
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
            self.node.close()
            self.server.close()
