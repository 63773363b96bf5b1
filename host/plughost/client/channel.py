"""Layer 3a: the poll pump over a plugin's two descriptors (its stdin and stdout, or a socketpair in tests).

Single-threaded and poll-driven: the calling thread writes what is queued and reads what arrives in one
poll loop, so a call costs a few syscalls (no thread hand-off), writes never deadlock against a peer that
is writing too (we keep reading while we write), a frame larger than the pipe never blocks (its rest is
written while we wait for something else), and every wait has a deadline. The channel knows frames, not
messages: each complete frame body goes to `on_frame`; what the bytes mean is the session's business.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable

from ..protocol.framing import FrameDecoder, ProtocolViolation

DEFAULT_PARTIAL_FRAME_TIMEOUT = 10.0
_READ_CHUNK = 1 << 20
_SPIN_SECONDS = 50e-6
# What poll reports for each direction (a descriptor polled both ways, a socket, reports both at once).
_READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLNVAL

_buffers = threading.local()


def _read_buffer() -> tuple[bytearray, memoryview]:
    """One read buffer per thread, shared by its channels: the decoder copies what it keeps, and a fresh
    1 MiB buffer per channel would churn the allocator (RSS crept up over thousands of runs)."""
    pair = getattr(_buffers, "pair", None)
    if pair is None:
        buffer = bytearray(_READ_CHUNK)
        pair = _buffers.pair = (buffer, memoryview(buffer))
    return pair


def _spin(poll: select.poll) -> list[tuple[int, int]]:
    """Poll without sleeping for a few tens of microseconds first: a small answer usually comes back
    within that, and a sleeping host would add its own wake-up latency (C-state exit) to every call."""
    deadline = time.perf_counter() + _SPIN_SECONDS
    while True:
        events = poll.poll(0)
        if events or time.perf_counter() >= deadline:
            return events


class ChannelClosed(Exception):
    """The peer went away while we waited: its process exited, it closed its output, or it stopped reading
    its input (`on_write`, with that as `detail`)."""

    def __init__(self, detail: str = "", *, on_write: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.on_write = on_write


class DeadlinePassed(Exception):
    """The caller's deadline passed before what it waited for happened."""


class Channel:
    """Frames out through `write_fd`, frames in from `read_fd` (both made non-blocking; the caller owns
    and closes them). `exit_fd` (a pidfd) becomes readable when the peer's process exits; without one,
    `has_exited` is asked once per loop turn."""

    def __init__(
        self,
        write_fd: int,
        read_fd: int,
        on_frame: Callable[[bytes], None],
        *,
        max_frame: int,
        partial_frame_timeout: float = DEFAULT_PARTIAL_FRAME_TIMEOUT,
        exit_fd: int | None = None,
        has_exited: Callable[[], bool] | None = None,
    ) -> None:
        self.write_fd = write_fd
        self.read_fd = read_fd
        self.exit_fd = exit_fd
        self.on_frame = on_frame
        self.partial_frame_timeout = partial_frame_timeout
        self._has_exited = has_exited if exit_fd is None else None
        os.set_blocking(write_fd, False)
        os.set_blocking(read_fd, False)
        self._decoder = FrameDecoder(max_frame)
        self._outbox: deque[memoryview] = deque()  # frames (or their rest) not yet written
        self._reading = True
        self._closed = False
        self._poll = select.poll()
        self._poll.register(read_fd, select.POLLIN)
        if exit_fd is not None:
            self._poll.register(exit_fd, select.POLLIN)

    @property
    def closed(self) -> bool:
        """The peer is gone (what it wrote before has been read)."""
        return self._closed

    @property
    def drained(self) -> bool:
        """Everything queued has been written."""
        return not self._outbox

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame received so far."""
        return self._decoder.buffered

    def check_eof(self) -> None:
        """ProtocolViolation when the stream ended inside a frame."""
        self._decoder.check_eof()

    def send(self, frame: bytes) -> None:
        """Queue a frame and write as much of it as the descriptor takes now, without waiting; the rest
        is written by later `pump`s. ChannelClosed (`on_write`) when the peer stopped reading."""
        self._outbox.append(memoryview(frame))
        self.flush()

    def flush(self) -> None:
        """Write queued frames until the descriptor is full (never blocks)."""
        outbox = self._outbox
        while outbox:
            data = outbox[0]
            try:
                written = os.write(self.write_fd, data)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    outbox.clear()
                    self._on_exit()
                    raise ChannelClosed("stopped reading its input", on_write=True) from None
                raise
            if written < len(data):
                outbox[0] = data[written:]
                return
            outbox.popleft()

    def pump(self, deadline: float, done: Callable[[], bool], *, tick: Callable[[], None] | None = None,
             tick_every: float = 0.0) -> None:
        """Read (and write what is queued) until `done()` or the deadline (DeadlinePassed), the peer goes
        away (ChannelClosed) or sends what is not a frame, or stalls inside one (ProtocolViolation).
        `tick`, when given, runs at least every `tick_every` seconds while we wait (it may raise)."""
        poll = self._poll
        write_fd, read_fd, exit_fd = self.write_fd, self.read_fd, self.exit_fd
        same_fd = write_fd == read_fd
        decoder = self._decoder
        while not done():
            now = time.monotonic()
            wait_until = deadline
            if decoder.partial_since is not None:
                stall = decoder.partial_since + self.partial_frame_timeout
                if now >= stall:
                    raise ProtocolViolation("partial frame stalled",
                                            f"{decoder.buffered} bytes of a frame, then nothing for "
                                            f"{self.partial_frame_timeout:g}s")
                wait_until = min(wait_until, stall)
            if now >= deadline:
                raise DeadlinePassed()
            if self._closed:
                raise ChannelClosed()
            if tick is not None:
                tick()
                wait_until = min(wait_until, now + tick_every)
            writing = bool(self._outbox)
            if writing:
                poll.register(write_fd, select.POLLOUT | (select.POLLIN if same_fd and self._reading else 0))
            events = poll.poll(0) if writing else _spin(poll)
            if not events:
                events = poll.poll(max(0.0, (wait_until - now) * 1000) + 1)
            if writing:
                if same_fd and self._reading:
                    poll.modify(read_fd, select.POLLIN)
                else:
                    poll.unregister(write_fd)
            for fd, event in events:
                if fd == exit_fd:
                    self._on_exit()
                    continue
                if fd == read_fd and event & _READABLE and self._reading:
                    self._read_available()
                if fd == write_fd and writing and event & _WRITABLE:
                    self.flush()
            if not self._reading and not done():
                self._on_exit()
            if self._has_exited is not None and self._has_exited():
                self._on_exit()

    def _read_available(self) -> None:
        # readinto a reused buffer: os.read(fd, 1 MiB) would allocate (mmap) and free a 1 MiB object per
        # call, which cost more than the rest of a small round trip together.
        buffer, view = _read_buffer()
        while True:
            try:
                count = os.readv(self.read_fd, [buffer])
            except BlockingIOError:
                return
            except OSError:
                count = 0
            if not count:
                self._reading = False
                with contextlib.suppress(KeyError):
                    self._poll.unregister(self.read_fd)
                return
            for body in self._decoder.feed(view[:count]):
                self.on_frame(body)
            if count < _READ_CHUNK:
                return

    def _on_exit(self) -> None:
        """The peer is gone (or closed its output): read what it left, then report."""
        if self._reading:
            with contextlib.suppress(ProtocolViolation):
                self._read_available()  # a grandchild may still hold the pipe: take what is there, don't wait
        self._closed = True
        if self.exit_fd is not None:
            with contextlib.suppress(KeyError):
                self._poll.unregister(self.exit_fd)
