"""Drains a plugin's stderr on a thread: never blocks the plugin, keeps a bounded tail for errors."""

from __future__ import annotations

import _thread
import logging
import os
import threading

TAIL_BYTES = 64 * 1024
_MAX_LOG_LINE = 8 * 1024


class StderrTail:
    def __init__(self, fd: int, plugin: str, limit: int = TAIL_BYTES) -> None:
        self._fd = fd
        self._limit = limit
        self._buf = bytearray()
        self._dropped = 0
        self._received = 0
        self._lock = threading.Lock()
        self._log = logging.getLogger(f"plughost.plugin.{plugin}")
        self._line = bytearray()
        self._done = threading.Event()
        # A bare thread: Thread.start() waits until the thread runs, which can cost milliseconds of a
        # plugin's start on a busy machine; the drain needs no such handshake.
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            while True:
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    break
                with self._lock:
                    self._buf += chunk
                    self._received += len(chunk)
                    excess = len(self._buf) - self._limit
                    if excess > 0:
                        del self._buf[:excess]
                        self._dropped += excess
                if self._log.isEnabledFor(logging.INFO):
                    self._emit_lines(chunk)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._done.set()

    def _emit_lines(self, chunk: bytes) -> None:
        self._line += chunk
        *lines, rest = self._line.split(b"\n")
        if len(rest) > _MAX_LOG_LINE:  # a flood without newlines: log it in pieces
            lines.append(rest)
            rest = bytearray()
        self._line = bytearray(rest)
        for line in lines:
            self._log.info("%s", line[:_MAX_LOG_LINE].decode("utf-8", "replace"))

    def join(self, timeout: float) -> None:
        self._done.wait(timeout)

    @property
    def truncated(self) -> bool:
        return self._dropped > 0

    @property
    def received(self) -> int:
        """Bytes read so far: a mark for `since`."""
        with self._lock:
            return self._received

    def since(self, mark: int) -> str:
        """What arrived after `mark` (as much of it as the tail still holds)."""
        with self._lock:
            new = min(self._received - mark, len(self._buf))
            data = bytes(self._buf[len(self._buf) - new:]) if new > 0 else b""
        return data.decode("utf-8", "replace")

    def text(self) -> str:
        with self._lock:
            data = bytes(self._buf)
            dropped = self._dropped
        text = data.decode("utf-8", "replace")
        if dropped:
            text = f"[... {dropped} earlier bytes of stderr truncated ...]\n" + text
        return text
