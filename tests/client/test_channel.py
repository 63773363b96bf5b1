"""The channel (client/channel.py) in memory: frames both ways over a socketpair or pipes, deadlines,
a peer that goes away, half a frame, frames larger than the pipe, garbage."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from plughost.client.channel import Channel, ChannelClosed, DeadlinePassed
from plughost.protocol.framing import FrameDecoder, FrameSizeViolation, ProtocolViolation, encode_frame

MAX_FRAME = 8 << 20


class Bodies(list[bytes]):
    """The frame bodies a channel delivered, in order."""


@pytest.fixture
def pair() -> Iterator[tuple[Channel, socket.socket, Bodies]]:
    ours, theirs = socket.socketpair()
    bodies = Bodies()
    channel = Channel(ours.fileno(), ours.fileno(), bodies.append, max_frame=MAX_FRAME, partial_frame_timeout=0.3)
    yield channel, theirs, bodies
    ours.close()
    theirs.close()


@pytest.fixture
def pipes() -> Iterator[tuple[Channel, int, int, Bodies]]:
    """A channel over two pipes, like a plugin's stdin/stdout: (channel, peer's read fd, peer's write fd)."""
    to_peer_r, to_peer_w = os.pipe()
    from_peer_r, from_peer_w = os.pipe()
    bodies = Bodies()
    channel = Channel(to_peer_w, from_peer_r, bodies.append, max_frame=MAX_FRAME)
    yield channel, to_peer_r, from_peer_w, bodies
    for fd in (to_peer_r, to_peer_w, from_peer_r, from_peer_w):
        with contextlib.suppress(OSError):
            os.close(fd)


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def read_frames(fd: int, count: int) -> list[bytes]:
    """Blocking read of `count` frames from a pipe (the peer's side)."""
    decoder, out = FrameDecoder(MAX_FRAME), []
    while len(out) < count:
        data = os.read(fd, 1 << 20)
        assert data
        out += decoder.feed(data)
    return out


def test_frames_both_ways_over_one_socket(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, peer, bodies = pair
    channel.send(encode_frame(b"ping"))
    assert channel.drained
    assert peer.recv(100) == encode_frame(b"ping")
    two = encode_frame(b"one") + encode_frame(b"two")
    third = encode_frame(b"three")
    peer.sendall(two + third[:3])  # two whole frames and the start of a third
    channel.pump(soon(), lambda: len(bodies) == 2)
    assert bodies == [b"one", b"two"] and channel.buffered == 3
    peer.sendall(third[3:])
    channel.pump(soon(), lambda: len(bodies) == 3)
    assert bodies[2] == b"three" and channel.buffered == 0 and not channel.closed


def test_deadline_fires_when_nothing_comes(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, _peer, _bodies = pair
    began = time.monotonic()
    with pytest.raises(DeadlinePassed):
        channel.pump(began + 0.2, lambda: False)
    assert 0.2 <= time.monotonic() - began < 2.0


def test_a_peer_that_closes_is_reported_after_what_it_sent(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, peer, bodies = pair
    peer.sendall(encode_frame(b"last words"))
    peer.close()
    with pytest.raises(ChannelClosed) as info:
        channel.pump(soon(), lambda: False)
    assert bodies == [b"last words"]
    assert channel.closed and not info.value.on_write and info.value.detail == ""


def test_half_a_frame_then_silence_stalls_before_the_deadline(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, peer, _bodies = pair
    peer.sendall(encode_frame(b"x" * 100)[:50])
    began = time.monotonic()
    with pytest.raises(ProtocolViolation) as info:
        channel.pump(soon(30), lambda: False)
    assert 0.3 <= time.monotonic() - began < 5.0  # the partial-frame timeout, not the caller's 30 s
    assert str(info.value).startswith("partial frame stalled")
    assert str(info.value).endswith(": 50 bytes of a frame, then nothing for 0.3s")


def test_half_a_frame_then_close_leaves_a_truncated_frame(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, peer, _bodies = pair
    peer.sendall(encode_frame(b"x" * 100)[:50])
    peer.close()
    with pytest.raises(ChannelClosed):
        channel.pump(soon(), lambda: False)
    assert channel.buffered == 50
    with pytest.raises(ProtocolViolation, match="truncated frame"):
        channel.check_eof()


def test_garbage_is_a_protocol_violation(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, peer, _bodies = pair
    peer.sendall(b"Traceback (most recent call last):\n")  # a print on the protocol stream
    with pytest.raises(FrameSizeViolation, match="the stream began with"):
        channel.pump(soon(), lambda: False)


def test_a_frame_larger_than_the_pipe_never_blocks_the_sender(pipes: tuple[Channel, int, int, Bodies]) -> None:
    channel, peer_in, peer_out, bodies = pipes
    big = os.urandom(3 << 20)  # far more than a pipe holds
    began = time.monotonic()
    channel.send(encode_frame(big))
    assert time.monotonic() - began < 1.0 and not channel.drained  # queued, not blocking

    received: list[bytes] = []

    def peer() -> None:  # reads the whole frame, then answers
        received.extend(read_frames(peer_in, 1))
        os.write(peer_out, encode_frame(b"got it"))

    thread = threading.Thread(target=peer)
    thread.start()
    channel.pump(soon(), lambda: bool(bodies))
    thread.join(5)
    assert received == [big] and bodies == [b"got it"] and channel.drained


def test_no_deadlock_when_both_sides_write_large_frames_at_once(pipes: tuple[Channel, int, int, Bodies]) -> None:
    channel, peer_in, peer_out, bodies = pipes
    ours, theirs = os.urandom(3 << 20), os.urandom(3 << 20)
    received: list[bytes] = []

    def peer() -> None:  # writes its large frame before reading ours: we must read while we write
        frame = encode_frame(theirs)
        while frame:
            frame = frame[os.write(peer_out, frame):]
        received.extend(read_frames(peer_in, 1))

    thread = threading.Thread(target=peer)
    thread.start()
    channel.send(encode_frame(ours))
    channel.pump(soon(10), lambda: bool(bodies) and channel.drained)
    thread.join(10)
    assert bodies == [theirs] and received == [ours]


def test_a_peer_that_stops_reading_fails_the_write(pipes: tuple[Channel, int, int, Bodies]) -> None:
    channel, peer_in, _peer_out, _bodies = pipes
    os.close(peer_in)
    with pytest.raises(ChannelClosed) as info:
        channel.send(encode_frame(b"anyone?"))
    assert info.value.on_write and info.value.detail == "stopped reading its input"
    assert channel.closed and channel.drained


def test_the_exit_descriptor_ends_the_wait_while_the_pipe_stays_open() -> None:
    """A grandchild may hold the plugin's stdout open after the plugin died: its pidfd ends the wait."""
    ours, theirs = socket.socketpair()
    exit_r, exit_w = os.pipe()
    bodies = Bodies()
    channel = Channel(ours.fileno(), ours.fileno(), bodies.append, max_frame=MAX_FRAME, exit_fd=exit_r)
    try:
        theirs.sendall(encode_frame(b"before exit"))
        os.write(exit_w, b"x")
        with pytest.raises(ChannelClosed):
            channel.pump(soon(), lambda: False)
        assert bodies == [b"before exit"]
    finally:
        for fd in (exit_r, exit_w):
            os.close(fd)
        ours.close()
        theirs.close()


def test_without_an_exit_descriptor_the_exit_check_is_asked_at_each_wake_up() -> None:
    ours, theirs = socket.socketpair()
    exited = threading.Event()
    bodies = Bodies()
    channel = Channel(ours.fileno(), ours.fileno(), bodies.append, max_frame=MAX_FRAME, has_exited=exited.is_set)
    try:
        theirs.sendall(encode_frame(b"one"))
        channel.pump(soon(), lambda: bool(bodies))
        assert not channel.closed
        exited.set()
        theirs.sendall(encode_frame(b"two"))  # the process is gone, a grandchild still holds the pipe
        with pytest.raises(ChannelClosed):
            channel.pump(soon(), lambda: False)
        assert bodies == [b"one", b"two"]
    finally:
        ours.close()
        theirs.close()


def test_tick_runs_while_waiting_and_may_end_the_wait(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, _peer, _bodies = pair
    ticks: list[float] = []
    with pytest.raises(DeadlinePassed):
        channel.pump(time.monotonic() + 0.3, lambda: False, tick=lambda: ticks.append(time.monotonic()),
                     tick_every=0.02)
    assert len(ticks) >= 5  # every 20 ms, not once per 0.3 s wait

    class Over(Exception):
        pass

    def over() -> None:
        raise Over

    with pytest.raises(Over):
        channel.pump(soon(), lambda: False, tick=over, tick_every=0.02)


def test_the_frame_handler_sees_each_body_once_across_reads(pair: tuple[Channel, socket.socket, Bodies]) -> None:
    channel, peer, bodies = pair
    frames = [encode_frame(bytes([i]) * (i * 1000 + 1)) for i in range(1, 30)]
    stream = b"".join(frames)

    def trickle() -> None:
        for start in range(0, len(stream), 777):
            peer.sendall(stream[start:start + 777])

    thread = threading.Thread(target=trickle)
    thread.start()
    channel.pump(soon(), lambda: len(bodies) == len(frames))
    thread.join(5)
    assert bodies == [bytes([i]) * (i * 1000 + 1) for i in range(1, 30)]
