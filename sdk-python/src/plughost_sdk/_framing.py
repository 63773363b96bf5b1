"""Length-prefixed frames on raw file descriptors (PROTOCOL.md section 2), blocking, for the runner."""

from __future__ import annotations

import os
import select
import time

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
# Before blocking for the next request, poll without sleeping this long: the host usually answers a
# result with its next request within it, and a sleeping runner would add a CPU wake-up to every call.
SPIN_SECONDS = 50e-6


class FrameError(Exception):
    """The byte stream is not valid framing; the runner cannot continue."""


class FrameReader:
    def __init__(self, fd: int, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._fd = fd
        self._max = max_frame
        self._buf = bytearray()
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def _spin(self) -> None:
        deadline = time.perf_counter() + SPIN_SECONDS
        while not self._poll.poll(0) and time.perf_counter() < deadline:
            pass

    def read(self) -> bytes | None:
        """The next frame body, or None at a clean end of stream."""
        buf = self._buf
        if not buf:
            self._spin()
        while len(buf) < 4:
            chunk = os.read(self._fd, 65536)
            if not chunk:
                if buf:
                    raise FrameError(f"stream ended inside a frame header ({len(buf)} of 4 bytes)")
                return None
            buf += chunk
        length = int.from_bytes(buf[:4], "big")
        if length == 0:
            raise FrameError("empty frame")
        if length > self._max:
            raise FrameError(f"frame too large: {length} bytes (maximum {self._max})")
        need = 4 + length
        while len(buf) < need:
            chunk = os.read(self._fd, max(65536, need - len(buf)))
            if not chunk:
                raise FrameError(f"stream ended inside a frame ({len(buf) - 4} of {length} bytes)")
            buf += chunk
        body = bytes(buf[4:need])
        del buf[:need]
        return body


def write_frame(fd: int, body: bytes) -> None:
    data = memoryview(len(body).to_bytes(4, "big") + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]
