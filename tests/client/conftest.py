"""In-memory seams for the client layer: a stand-in for the plugin's process over a socketpair, and the
plugin's end of it, played by the test (like the TypeScript SDK's MemoryHost, the other way round)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plughost.client.session import Session
from plughost.protocol.codec import NOTIFICATION, RESPONSE, Message, decode_message, pack
from plughost.protocol.framing import FrameDecoder, encode_frame
from plughost.protocol.messages import PROTOCOL_VERSIONS
from plughost.transport.process import LaunchSpec
from plughost.transport.stderr import StderrTail


class PluginEnd:
    """The plugin's side of the socketpair: reads what the host sent, writes what a plugin would."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._decoder = FrameDecoder()
        self._messages: list[Message] = []

    def read(self, timeout: float = 5.0) -> Message:
        self.sock.settimeout(timeout)
        while not self._messages:
            data = self.sock.recv(1 << 20)
            assert data, "the host closed its end"
            self._messages += [decode_message(body) for body in self._decoder.feed(data)]
        return self._messages.pop(0)

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: list[Any]) -> None:
        self.raw(encode_frame(pack(message)))

    def notify(self, method: str, params: Any) -> None:
        self.send([NOTIFICATION, method, params])

    def answer(self, msgid: int, result: Any = None, error: dict[str, Any] | None = None) -> None:
        self.send([RESPONSE, msgid, error, result])

    def hello(self, protocol: int = PROTOCOL_VERSIONS[-1], **plugin: Any) -> None:
        self.notify("hello", {"protocol": protocol, "sdk": "fake-sdk", "sdk_version": "9.9",
                              "plugin": {"name": "fake", "version": "1.0.0", "type": "strategy", **plugin},
                              "methods": ["initialize", "on_candle"], "pid": 4242})


class FakeProcess:
    """A `PluginPeer` with no process behind it: the session talks to the test over a socketpair (one
    descriptor both ways), and the test decides when and how the 'process' exits."""

    def __init__(self, name: str = "fake", language: str = "python") -> None:
        self.name = name
        self.spec = LaunchSpec(name, "strategy", language, Path("strategy.py"), Path.cwd())
        self.host, plugin = socket.socketpair()
        self.plugin = PluginEnd(plugin)
        self.stdin_fd = self.stdout_fd = self.host.fileno()
        self.pidfd: int | None = None
        self.stack_fd: int | None = None
        self.pid = -1
        self.main_pid = -1  # /proc/-1 does not exist: no memory readings unless a test sets a real pid
        stderr_read, self._stderr_write = os.pipe()
        self.stderr = StderrTail(stderr_read, name)
        self._returncode: int | None = None
        self._exited = threading.Event()
        self.kills = 0

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def poll(self) -> int | None:
        return self._returncode

    def wait(self, timeout: float) -> int | None:
        self._exited.wait(timeout)
        return self._returncode

    def write_stderr(self, text: str) -> None:
        os.write(self._stderr_write, text.encode())

    def exit(self, code: int) -> None:
        """The plugin exits (a negative code: killed by that signal); its ends of the pipes close."""
        self._returncode = code
        self._close_plugin_side()
        self._exited.set()

    def kill(self, grace: float = 2.0) -> None:
        self.kills += 1
        if self._returncode is None:
            self.exit(-9)
        self.host.close()

    def _close_plugin_side(self) -> None:
        self.plugin.sock.close()
        if self._stderr_write >= 0:
            os.close(self._stderr_write)
            self._stderr_write = -1

    def close(self) -> None:
        self.host.close()
        if self._returncode is None:
            self._close_plugin_side()
        self.stderr.join(1.0)


@pytest.fixture
def fake() -> Iterator[FakeProcess]:
    process = FakeProcess()
    yield process
    process.close()


def make_session(process: FakeProcess, **kwargs: Any) -> Session:
    session = Session(process, max_frame=kwargs.pop("max_frame", 1 << 20), term_grace=0.1, **kwargs)  # type: ignore[arg-type]
    session.stack_wait = 0  # no signal to a process that does not exist
    return session


@pytest.fixture
def session(fake: FakeProcess) -> Session:
    return make_session(fake)


@pytest.fixture
def greeted(fake: FakeProcess, session: Session) -> Session:
    """A session past its handshake."""
    fake.plugin.hello()
    session.wait_hello(2.0)
    return session
