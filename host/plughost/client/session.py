"""Layer 3: one conversation with one plugin process.

The conversation over a `Channel` (channel.py, the poll pump): request ids, the handshake, requests and
their answers in any order, notifications, the hook errors a feature reports, and the memory watchdog.
When something goes wrong the session gathers the facts (exit code, stderr tail, the plugin's stack) and
`Diagnosis` (diagnosis.py) words the error; the session then makes sure the process tree is gone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from ..errors import PluginFailure
from ..protocol.codec import Notification, Request, Response, decode_message, notification_frame, request_frame
from ..protocol.framing import ProtocolViolation
from ..protocol.messages import Hello
from ..protocol.methods import Method
from ..transport.stack import DEFAULT_WAIT as DEFAULT_STACK_WAIT
from ..transport.stack import StackDump, StackSource, capture_stack
from .channel import DEFAULT_PARTIAL_FRAME_TIMEOUT, Channel, ChannelClosed, DeadlinePassed
from .diagnosis import Diagnosis, HookErrorReport, Stderr, WireError, doing

__all__ = ["DEFAULT_PARTIAL_FRAME_TIMEOUT", "Pending", "PluginPeer", "Session", "doing"]

_MEMORY_CHECK_INTERVAL = 0.02  # seconds between two RSS readings while a call runs under a memory limit
_PAGE = os.sysconf("SC_PAGE_SIZE")


class PluginPeer(StackSource, Protocol):
    """What the conversation needs of the plugin's process: a `transport.process.PluginProcess`, or a
    stand-in over a socketpair in the unit tests (tests/client)."""

    name: str
    stdin_fd: int
    stdout_fd: int
    pidfd: int | None

    @property
    def main_pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def wait(self, timeout: float) -> int | None: ...

    def kill(self, grace: float = 2.0) -> None: ...


@dataclass(frozen=True)
class Pending:
    """A request sent and not yet answered (`Session.send_request`)."""

    msgid: int
    method: str


class Session:
    def __init__(
        self,
        process: PluginPeer,
        *,
        max_frame: int,
        partial_frame_timeout: float = DEFAULT_PARTIAL_FRAME_TIMEOUT,
        term_grace: float = 2.0,
    ) -> None:
        self.process = process
        self.name = process.name
        self.term_grace = term_grace
        self.diagnosis = Diagnosis(process.name, process.spec.language)
        self.channel = Channel(
            process.stdin_fd, process.stdout_fd, self._handle, max_frame=max_frame,
            partial_frame_timeout=partial_frame_timeout, exit_fd=process.pidfd,
            has_exited=None if process.pidfd is not None else lambda: process.poll() is not None,
        )
        self._hello: Notification | None = None
        self._next_id = 1
        self._waiting: dict[int, str] = {}  # request id -> method, oldest first
        self._responses: dict[int, Response] = {}
        self._notifications: list[Notification] = []
        self._failure: PluginFailure | None = None
        self.hook_errors: list[HookErrorReport] = []
        self.teardown_error: PluginFailure | None = None
        # How long a timed-out plugin gets to dump its stack before it is killed (0: kill at once).
        self.stack_wait = DEFAULT_STACK_WAIT

    # -- public -------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._failure is None and not self.channel.closed

    @property
    def memory_limit_mb(self) -> float | None:
        return self.diagnosis.memory_limit_mb

    def wait_hello(self, timeout: float) -> Hello:
        deadline = time.monotonic() + timeout
        try:
            self._pump(deadline, lambda: bool(self._notifications))
        except ChannelClosed as exc:
            raise self._fail(self.diagnosis.died_before_hello(self._exit_code(), self._stderr(),
                                                              detail=exc.detail)) from None
        except DeadlinePassed:
            stack = self._stack()
            raise self._fail(self.diagnosis.start_timed_out(timeout, stack, self._stderr())) from None
        first = self._notifications.pop(0)
        self._hello = first
        if first.method == Method.LOAD_ERROR:
            self.process.wait(1.0)  # the runner exits right after: let its stderr reach the tail
            raise self._fail(self.diagnosis.load_failed(first.params, self._stderr()))
        if first.method != Method.HELLO:
            raise self._fail(self.diagnosis.not_hello(first.method, self._stderr()))
        try:
            hello = Hello.parse(first.params)
        except ProtocolViolation as exc:
            raise self._fail(self.diagnosis.bad_hello(exc, self._stderr())) from None
        foreign = self.diagnosis.foreign_protocol(hello)
        if foreign is not None:
            raise self._fail(foreign)
        return hello

    def request(self, method: str, params: Any, *, timeout: float) -> Any:
        return self.wait_response(self.send_request(method, params), timeout=timeout)

    def send_request(self, method: str, params: Any) -> Pending:
        """Queue a request and write as much of it as the pipe takes now, without waiting: the rest is
        written while a later `wait_response` polls (so a frame larger than the pipe never blocks the
        host while the plugin is busy with an earlier request). Requests are answered in any order;
        the host may send the next batch before it reads this one's answer (PROTOCOL.md section 6)."""
        self._check_usable()
        msgid = self._next_id
        self._next_id = msgid + 1 if msgid < 0xFFFFFFFF else 1
        self._waiting[msgid] = method
        with contextlib.suppress(ChannelClosed):  # reported by wait_response, after earlier answers are read
            self.channel.send(request_frame(msgid, method, params))
        return Pending(msgid, method)

    def wait_response(self, pending: Pending, *, timeout: float) -> Any:
        """The answer to `pending`. The timeout runs from now: a pipelined request waits its turn."""
        msgid, method = pending.msgid, pending.method
        deadline = time.monotonic() + timeout
        try:
            if self._failure is not None:
                raise self._failure
            self._pump(deadline, lambda: msgid in self._responses, method=method)
        except ChannelClosed as exc:
            if msgid not in self._responses:
                raise self._fail(self._crashed(doing(method), exc.detail, hook=method)) from None
        except DeadlinePassed:
            raise self._timeout(method, timeout) from None
        self._waiting.pop(msgid, None)
        response = self._responses.pop(msgid)
        if response.error is not None:
            raise self._plugin_error(WireError.parse(response.error), method)
        return response.result

    def notify(self, method: str, params: Any, *, timeout: float) -> None:
        self._check_usable()
        deadline = time.monotonic() + timeout
        channel = self.channel
        try:
            channel.send(notification_frame(method, params))
            if not channel.drained:
                self._pump(deadline, lambda: channel.drained, method=method)
        except ChannelClosed as exc:
            raise self._fail(self._crashed(doing(method), exc.detail, hook=method)) from None
        except DeadlinePassed:
            raise self._timeout(method, timeout) from None

    def limit_memory(self, limit_mb: float) -> None:
        """Cap the plugin's memory: its resident size is checked every 20 ms while a call runs (over the
        limit: killed, `ResourceLimitExceeded`), and, as a backstop an allocator cannot outrun between two
        checks, its address space may grow by at most `limit_mb` from now (RLIMIT_AS), so a larger
        allocation fails inside the plugin (MemoryError, reported as RESOURCE_LIMIT too).
        Applied after the handshake: runtimes such as V8 reserve far more address space than they use."""
        self.diagnosis.memory_limit_mb = limit_mb
        with contextlib.suppress(psutil.Error, OSError, ValueError):
            proc = psutil.Process(self.process.main_pid)
            cap = proc.memory_info().vms + int(limit_mb * 2**20)
            proc.rlimit(psutil.RLIMIT_AS, (cap, cap))

    def take_hook_errors(self) -> list[HookErrorReport]:
        errors, self.hook_errors = self.hook_errors, []
        return errors

    def close(self, timeout: float = 2.0) -> None:
        """Ask the plugin to shut down, then make sure its whole tree is gone. Idempotent.

        A plugin that fails its teardown (no answer to `shutdown`, or a non-zero exit or a signal after
        it) leaves the failure in `teardown_error`, once: results it sent before stay valid.
        A plugin still busy with a request nobody will read (a pipelined batch after the run failed) is
        killed without a shutdown: it would answer only after finishing that batch."""
        if self.alive and not self._waiting:
            try:
                self.request(Method.SHUTDOWN, None, timeout=timeout)
            except PluginFailure as exc:
                self.teardown_error = exc
            else:
                code = self.process.wait(min(timeout, self.term_grace))
                if code is not None and code != 0:
                    self.teardown_error = self._crashed("after answering shutdown", "", hook=Method.SHUTDOWN)
        self.process.kill(self.term_grace)

    def kill(self) -> None:
        self.process.kill(self.term_grace)

    # -- the conversation ---------------------------------------------------------------------------

    def _handle(self, body: bytes) -> None:
        message = decode_message(body)
        if isinstance(message, Response):
            if message.msgid not in self._waiting or message.msgid in self._responses:
                raise ProtocolViolation("unexpected response", f"no request with id {message.msgid} is waiting")
            self._responses[message.msgid] = message
        elif isinstance(message, Notification):
            if message.method == Method.HOOK_ERROR:
                self.hook_errors.append(self.diagnosis.hook_error(message.params))
            elif not self._notifications and self._hello is None:
                self._notifications.append(message)  # the first message must be hello (checked by wait_hello)
            # other notifications are from a newer SDK: ignored (PROTOCOL.md section 3), never queued
        elif isinstance(message, Request):
            raise ProtocolViolation("unexpected request", f"plugins may not send requests ({message.method!r})")

    def _pump(self, deadline: float, done: Callable[[], bool], method: str | None = None) -> None:
        """The channel's pump, with the memory watchdog during calls and the protocol's failures typed."""
        watch = self.diagnosis.memory_limit_mb is not None and method is not None
        try:
            try:
                self.channel.pump(deadline, done, tick=self._check_memory if watch else None,
                                  tick_every=_MEMORY_CHECK_INTERVAL)
            except ChannelClosed as exc:
                if not exc.on_write:
                    self._check_truncated()
                raise
        except ProtocolViolation as exc:
            raise self._fail(self.diagnosis.broke_protocol(exc, self._stderr())) from None

    def _check_truncated(self) -> None:
        """A clean exit (code 0) that leaves half a frame behind is a protocol error, not a crash: the
        plugin believed it had answered. A crash by signal or with a non-zero code stays a crash."""
        if self.channel.buffered and self.process.wait(1.0) == 0:
            self.channel.check_eof()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self.channel.closed:
            # With pipelining the plugin may die while an earlier request is still unanswered: it died doing
            # that one (seen here when its exit arrived with the answer before it), not between calls.
            busy = next((m for i, m in self._waiting.items() if i not in self._responses), None)
            if busy is not None:
                raise self._fail(self._crashed(doing(busy), "", hook=busy))
            raise self._fail(self._crashed("between calls", ""))

    def _check_memory(self) -> None:
        limit = self.diagnosis.memory_limit_mb
        assert limit is not None
        try:
            with open(f"/proc/{self.process.main_pid}/statm", "rb") as statm:
                rss_mb = int(statm.read().split()[1]) * _PAGE / 2**20
        except (OSError, IndexError, ValueError):
            return
        if rss_mb > limit:
            raise self._fail(self.diagnosis.over_memory(rss_mb, self._stderr()))

    # -- failures: gather the facts, let the diagnosis word them, make sure the process is gone --------

    def _fail(self, error: PluginFailure) -> PluginFailure:
        if self._failure is None:
            self._failure = error
        self.process.kill(self.term_grace)
        return error

    def _stderr(self) -> Stderr:
        self.process.stderr.join(0.2)
        return Stderr(self.process.stderr.text(), self.process.stderr.truncated)

    def _exit_code(self) -> int | None:
        code = self.process.wait(1.0)
        if code is None:  # closed stdout but still running
            self.process.kill(self.term_grace)
            code = self.process.returncode
        return code

    def _crashed(self, when: str, detail: str, hook: str | None = None) -> PluginFailure:
        return self.diagnosis.crashed(when, self._exit_code(), self._stderr(), detail=detail, hook=hook)

    def _plugin_error(self, error: WireError, method: str) -> PluginFailure:
        raised = self.diagnosis.raised(error, method)
        if raised is None:  # out of memory under the limit: the plugin cannot be trusted to go on
            return self._fail(self.diagnosis.out_of_memory(error, method, self._stderr()))
        return raised

    def _stack(self) -> StackDump | None:
        """The plugin's stack before it is killed."""
        if self._failure is not None or self.stack_wait <= 0:
            return None
        return capture_stack(self.process, self.stack_wait)

    def _timeout(self, method: str, timeout: float) -> PluginFailure:
        stack = self._stack()
        return self._fail(self.diagnosis.timed_out(method, timeout, stack, self._stderr()))
