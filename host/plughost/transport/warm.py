"""Warm starts: Python plugin runners started ahead of time, SDK already imported, waiting to be told
which plugin to become (PROTOCOL.md section 11). Taking one costs a pipe write instead of an
interpreter start plus imports; each still serves exactly one plugin for one run, so isolation and
module state are those of a fresh process.

Enabled per host process (the batch runner's workers call `enable_warm_starts()`); the pool refills
itself on a background thread and `shutdown()` (also run at exit) ends the idle runners.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path

from ..protocol.codec import notification_frame
from ..protocol.framing import DEFAULT_MAX_FRAME
from . import process as process_module
from .env import plugin_environment
from .process import LaunchSpec, PluginProcess, base_protocol_vars, command_for, plugin_vars

WARM_LANGUAGES = ("python",)


class WarmPool:
    def __init__(self, size: int = 2, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.size = size
        self.max_frame = max_frame
        self._idle: list[PluginProcess] = []
        self._lock = threading.Lock()
        self._refilling = False
        self._closed = False
        self.served = 0

    def _spawn_idle(self) -> PluginProcess:
        spec = LaunchSpec("warm-python", "strategy", "python", Path(), Path.cwd())
        argv, lang_env = command_for(spec)
        env = plugin_environment({**base_protocol_vars(self.max_frame), **lang_env, "PLUGHOST_WARM": "1"})
        return PluginProcess.start(spec, argv, env)

    def fill(self) -> None:
        """Start runners until `size` are idle (blocking)."""
        while True:
            with self._lock:
                if self._closed or len(self._idle) >= self.size:
                    self._refilling = False
                    return
            proc = self._spawn_idle()
            with self._lock:
                if self._closed:
                    proc.kill(0.1)
                    return
                self._idle.append(proc)

    def _refill_soon(self) -> None:
        with self._lock:
            if self._refilling or self._closed:
                return
            self._refilling = True
        threading.Thread(target=self.fill, name="plughost-warm-refill", daemon=True).start()

    def take(self, spec: LaunchSpec, max_frame: int) -> PluginProcess | None:
        if spec.language not in WARM_LANGUAGES or max_frame != self.max_frame:
            return None
        proc = None
        with self._lock:
            while self._idle and proc is None:
                candidate = self._idle.pop(0)
                if candidate.poll() is None:
                    proc = candidate
                else:
                    candidate.kill(0.1)
        self._refill_soon()
        if proc is None:
            return None
        proc.rebind(spec)
        env = {**spec.extra_env, **plugin_vars(spec)}
        frame = notification_frame("load", {"env": env, "cwd": str(spec.plugin_dir)})
        try:
            os.write(proc.stdin_fd, frame)  # a few hundred bytes into an empty pipe: never blocks
        except OSError:
            proc.kill(0.1)
            return None
        self.served += 1
        return proc

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for proc in idle:
            with contextlib.suppress(Exception):
                proc.kill(0.5)


_POOL: WarmPool | None = None


def enable_warm_starts(size: int = 2, *, prefill: bool = True) -> WarmPool:
    """Serve this process's Python plugin spawns from a warm pool."""
    global _POOL
    if _POOL is None or _POOL._closed:
        _POOL = WarmPool(size)
        process_module.warm_source = _POOL.take
        atexit.register(disable_warm_starts)
    if prefill:
        _POOL.fill()
    return _POOL


def disable_warm_starts() -> None:
    global _POOL
    process_module.warm_source = None
    if _POOL is not None:
        _POOL.shutdown()
        _POOL = None
