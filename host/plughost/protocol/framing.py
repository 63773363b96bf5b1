"""Incremental decoding of length-prefixed frames (PROTOCOL.md section 2).

The decoder is fed whatever bytes arrive and hands out complete frame bodies. It refuses a bad length
from the 4-byte header alone, so a hostile `0xffffffff` never makes the host allocate 4 GiB.
"""

from __future__ import annotations

import reprlib
import time
from typing import Any

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
HEADER = 4


class ProtocolViolation(Exception):
    """The peer broke the protocol. `reason` is a short stable phrase; the message adds detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class FrameSizeViolation(ProtocolViolation):
    pass


def encode_frame(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER, "big") + body


def describe_bytes(data: bytes, limit: int = 200) -> str:
    """Show bytes the way a person can recognise them (stray text printed to stdout, usually)."""
    shown = data[:limit]
    text = shown.decode("utf-8", "backslashreplace")
    return repr(text) + (f" (+{len(data) - limit} more bytes)" if len(data) > limit else "")


class _ShortRepr(reprlib.Repr):
    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: self.maxstring]) + ("..." if len(x) > self.maxstring else "")


_REPR = _ShortRepr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 8


def short_repr(value: Any, limit: int = 200) -> str:
    """A bounded repr for error messages: a peer's value may be nested 1,000 deep or 64 MiB long, and
    the built-in repr would recurse past Python's limit or build a string as large as the value."""
    return _REPR.repr(value)[:limit]


class FrameDecoder:
    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._need = 0  # body length of the frame in progress, 0 when waiting for a header
        self.partial_since: float | None = None  # when the unfinished frame's first byte arrived
        self.frames_seen = 0

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        """Add bytes; return the frame bodies they complete (possibly none)."""
        if not data:
            return []
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            if self._need == 0:
                if len(buf) < HEADER:
                    break
                length = int.from_bytes(buf[:HEADER], "big")
                if length == 0:
                    raise ProtocolViolation("empty frame", "a frame header announced 0 bytes")
                if length > self.max_frame:
                    detail = f"header announces {length} bytes, the maximum is {self.max_frame}"
                    if self.frames_seen == 0:
                        detail += f"; the stream began with {describe_bytes(bytes(buf[:200]))}"
                    raise FrameSizeViolation("frame too large", detail)
                self._need = length
            end = HEADER + self._need
            if len(buf) < end:
                break
            out.append(bytes(buf[HEADER:end]))
            del buf[:end]
            self._need = 0
            self.frames_seen += 1
        self.partial_since = (self.partial_since or time.monotonic()) if buf else None
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def check_eof(self) -> None:
        """At end of stream: leftover bytes mean a truncated frame."""
        if self._buf:
            raise ProtocolViolation(
                "truncated frame", f"the stream ended with {len(self._buf)} bytes of an unfinished frame"
            )
