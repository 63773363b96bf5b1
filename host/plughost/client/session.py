"""Layer 3: one conversation with one plugin process.

Single-threaded and poll-driven: the calling thread writes its request and waits on the plugin's stdout
and on a pidfd at once, so a call costs a few syscalls (no thread hand-off), writes never deadlock
against a plugin that is writing too (we keep reading while we write), and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from ..errors import (
    FrameTooLarge,
    HandshakeError,
    PluginCrashed,
    PluginError,
    PluginFailure,
    PluginLoadFailed,
    PluginProtocolError,
    PluginStartTimeout,
    PluginTimeout,
    ResourceLimitExceeded,
)
from ..protocol.codec import Notification, Request, Response, decode_message, notification_frame, request_frame
from ..protocol.framing import FrameDecoder, FrameSizeViolation, ProtocolViolation
from ..protocol.messages import PROTOCOL_VERSIONS, Hello, LoadFailure
from ..transport.process import PluginProcess, signal_name
from ..transport.stack import DEFAULT_WAIT as DEFAULT_STACK_WAIT
from ..transport.stack import capture_stack

DEFAULT_PARTIAL_FRAME_TIMEOUT = 10.0
_READ_CHUNK = 1 << 20
_SPIN_SECONDS = 50e-6
_MEMORY_CHECK_INTERVAL = 0.02  # seconds between two RSS readings while a call runs under a memory limit
_PAGE = os.sysconf("SC_PAGE_SIZE")


_buffers = threading.local()


def _read_buffer() -> tuple[bytearray, memoryview]:
    """One read buffer per thread, shared by its sessions: the decoder copies what it keeps, and a fresh
    1 MiB buffer per session would churn the allocator (RSS crept up over thousands of runs)."""
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


# How users know the protocol's methods (error messages say what the plugin was doing, not the wire name).
_DOING = {
    "initialize": "in initialize",
    "candles": "while processing a batch of candles",
    "trades": "while receiving closed trades",
    "pre_run": "in on_pre_run",
    "post_run": "in on_post_run",
    "ping": "while answering a ping",
    "shutdown": "while shutting down",
}


def doing(method: str) -> str:
    return _DOING.get(method, f"in {method}")


@dataclass(frozen=True)
class Pending:
    """A request sent and not yet answered (`Session.send_request`)."""

    msgid: int
    method: str


_LOAD_HINTS = {
    "syntax": "fix the syntax at that line (the plugin was not run)",
    "raised": "the plugin's module-level code raised while being imported; fix that line, or move the work "
              "into initialize() where errors name the hook",
}
_LOAD_HINTS_BY_LANGUAGE = {
    ("missing_module", "python"): f"install the module into the Python that runs the plugins ({sys.executable} "
                                  "-m pip install NAME), or fix the import's name",
    ("missing_module", "node"): "`npm install` it in the plugin folder (and rebuild), or fix the import's name",
    ("no_plugin", "python"): "define exactly one StrategyPlugin/FeaturePlugin subclass in the entry module, or "
                             "export an instance named `plugin`",
    ("no_plugin", "node"): "`export default` the plugin class or object from the entry file (a feature also "
                           "needs a `hooks` object)",
}


def load_hint(kind: str, language: str) -> str:
    runtime = "python" if language == "python" else "node"
    return _LOAD_HINTS_BY_LANGUAGE.get((kind, runtime)) or _LOAD_HINTS.get(kind) or _LOAD_HINTS["raised"]


def _shown_path(file: str) -> str:
    """A path the user can click: relative to the current folder when it is below it."""
    with contextlib.suppress(ValueError, OSError):
        return os.path.relpath(file) if Path(file).resolve().is_relative_to(Path.cwd()) else file
    return file


def load_failure_message(name: str, failure: LoadFailure) -> str:
    """`file:line: Type: message`, then the offending source line, then which plugin: the user's line
    comes first."""
    where = _shown_path(failure.file) if failure.file else f"plugin '{name}'"
    if failure.line:
        where += f":{failure.line}"
        if failure.column:
            where += f":{failure.column}"
    first_line = failure.message.strip().splitlines()[0] if failure.message.strip() else ""
    text = f"{where}: {failure.type}: {first_line}" if first_line else f"{where}: {failure.type}"
    if failure.source and failure.source.strip():
        text += f"\n    {failure.source.strip()}"
    return text + f"\nplugin '{name}' could not be loaded"


class _Exited(Exception):
    """Internal: the process exited (or closed stdout) while we waited."""


class _Deadline(Exception):
    """Internal: the caller's deadline passed."""


class Session:
    def __init__(
        self,
        process: PluginProcess,
        *,
        max_frame: int,
        partial_frame_timeout: float = DEFAULT_PARTIAL_FRAME_TIMEOUT,
        term_grace: float = 2.0,
    ) -> None:
        self.process = process
        self.name = process.name
        self.term_grace = term_grace
        self.partial_frame_timeout = partial_frame_timeout
        self._decoder = FrameDecoder(max_frame)
        self._hello: Notification | None = None
        self._next_id = 1
        self._waiting: set[int] = set()
        self._outbox: deque[memoryview] = deque()  # frames (or their rest) not yet in the pipe
        self._responses: dict[int, Response] = {}
        self._notifications: list[Notification] = []
        self._stdout_open = True
        self._exited = False
        self._failure: PluginFailure | None = None
        self._poll = select.poll()
        self._poll.register(process.stdout_fd, select.POLLIN)
        if process.pidfd is not None:
            self._poll.register(process.pidfd, select.POLLIN)
        self.hook_errors: list[dict[str, Any]] = []
        self.teardown_error: PluginFailure | None = None
        self.memory_limit_mb: float | None = None
        # How long a timed-out plugin gets to dump its stack before it is killed (0: kill at once).
        self.stack_wait = DEFAULT_STACK_WAIT

    # -- public -------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._failure is None and not self._exited

    def wait_hello(self, timeout: float) -> Hello:
        deadline = time.monotonic() + timeout
        try:
            self._pump(deadline, lambda: bool(self._notifications))
        except _Exited as exc:
            raise self._fail(self._crash_error("before its handshake (hello)", str(exc), HandshakeError)) from None
        except _Deadline:
            stack, stopped_at, where = self._stack()
            raise self._fail(PluginStartTimeout(
                f"plugin '{self.name}' did not complete its handshake within {timeout:g}s{where}",
                plugin=self.name, hint="it may hang while importing; raise --start-timeout if it is just slow",
                stack=stack, stopped_at=stopped_at, **self._stderr_fields(),
            )) from None
        first = self._notifications.pop(0)
        self._hello = first
        if first.method == "load_error":
            raise self._fail(self._load_failed(first.params))
        if first.method != "hello":
            raise self._fail(HandshakeError(
                f"plugin '{self.name}' sent {first.method!r} before its handshake", plugin=self.name,
                hint="the plugin must use a plughost SDK runner", **self._stderr_fields(),
            ))
        try:
            hello = Hello.parse(first.params)
        except ProtocolViolation as exc:
            raise self._fail(HandshakeError(f"plugin '{self.name}' sent a bad hello: {exc}", plugin=self.name,
                                            **self._stderr_fields())) from None
        if hello.protocol not in PROTOCOL_VERSIONS:
            raise self._fail(HandshakeError(
                f"plugin '{self.name}' speaks protocol version {hello.protocol}; this host speaks "
                f"{', '.join(map(str, PROTOCOL_VERSIONS))} ({hello.sdk} {hello.sdk_version})",
                plugin=self.name, hint="upgrade the plugin's SDK or plughost so that they share a version",
            ))
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
        self._waiting.add(msgid)
        self._outbox.append(memoryview(request_frame(msgid, method, params)))
        with contextlib.suppress(_Exited):  # reported by wait_response, after earlier answers are read
            self._flush()
        return Pending(msgid, method)

    def wait_response(self, pending: Pending, *, timeout: float) -> Any:
        """The answer to `pending`. The timeout runs from now: a pipelined request waits its turn."""
        msgid, method = pending.msgid, pending.method
        deadline = time.monotonic() + timeout
        try:
            if self._failure is not None:
                raise self._failure
            self._pump(deadline, lambda: msgid in self._responses, method=method)
        except _Exited as exc:
            if msgid not in self._responses:
                raise self._fail(self._crash_error(doing(method), str(exc), PluginCrashed, hook=method)) \
                    from None
        except _Deadline:
            raise self._timeout(method, timeout) from None
        self._waiting.discard(msgid)
        response = self._responses.pop(msgid)
        if response.error is not None:
            raise self._plugin_error(response.error, method)
        return response.result

    def notify(self, method: str, params: Any, *, timeout: float) -> None:
        self._check_usable()
        deadline = time.monotonic() + timeout
        try:
            self._outbox.append(memoryview(notification_frame(method, params)))
            self._flush()
            if self._outbox:
                self._pump(deadline, lambda: not self._outbox, method=method)
        except _Exited as exc:
            raise self._fail(self._crash_error(doing(method), str(exc), PluginCrashed, hook=method)) from None
        except _Deadline:
            raise self._timeout(method, timeout) from None

    def limit_memory(self, limit_mb: float) -> None:
        """Cap the plugin's memory: its resident size is checked every 20 ms while a call runs (over the
        limit: killed, `ResourceLimitExceeded`), and, as a backstop an allocator cannot outrun between two
        checks, its address space may grow by at most `limit_mb` from now (RLIMIT_AS), so a larger
        allocation fails inside the plugin (MemoryError, reported as RESOURCE_LIMIT too).
        Applied after the handshake: runtimes such as V8 reserve far more address space than they use."""
        self.memory_limit_mb = limit_mb
        with contextlib.suppress(psutil.Error, OSError, ValueError):
            proc = psutil.Process(self.process.main_pid)
            cap = proc.memory_info().vms + int(limit_mb * 2**20)
            proc.rlimit(psutil.RLIMIT_AS, (cap, cap))

    def _check_memory(self) -> None:
        assert self.memory_limit_mb is not None
        try:
            with open(f"/proc/{self.process.main_pid}/statm", "rb") as statm:
                rss_mb = int(statm.read().split()[1]) * _PAGE / 2**20
        except (OSError, IndexError, ValueError):
            return
        if rss_mb > self.memory_limit_mb:
            raise self._fail(self._resource_limit(
                f"plugin '{self.name}' used {rss_mb:.0f} MB of memory, over its limit of "
                f"{self.memory_limit_mb:g} MB; its process tree was killed", used_mb=round(rss_mb, 1),
                **self._stderr_fields(),
            ))

    def _resource_limit(self, message: str, **fields: Any) -> ResourceLimitExceeded:
        return ResourceLimitExceeded(
            message, plugin=self.name, limit_mb=self.memory_limit_mb,
            hint="raise `memory_limit_mb` in the run config if the plugin really needs more", **fields)

    def _over_limit(self, error_type: str, text: str) -> bool:
        """Did a plugin's error or crash come from hitting its memory limit (the RLIMIT_AS backstop)?"""
        if self.memory_limit_mb is None:
            return False
        lowered = text.lower()
        return error_type == "MemoryError" or "allocation failed" in lowered or "out of memory" in lowered

    def take_hook_errors(self) -> list[dict[str, Any]]:
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
                self.request("shutdown", None, timeout=timeout)
            except PluginFailure as exc:
                self.teardown_error = exc
            else:
                code = self.process.wait(min(timeout, self.term_grace))
                if code is not None and code != 0:
                    self.teardown_error = self._crash_error("after answering shutdown", "", PluginCrashed,
                                                            hook="shutdown")
        self.process.kill(self.term_grace)

    def kill(self) -> None:
        self.process.kill(self.term_grace)

    # -- internals ----------------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._exited:
            raise self._fail(self._crash_error("between calls", "", PluginCrashed))

    def _fail(self, error: PluginFailure) -> PluginFailure:
        if self._failure is None:
            self._failure = error
        self.process.kill(self.term_grace)
        return error

    def _stderr_fields(self) -> dict[str, Any]:
        self.process.stderr.join(0.2)
        return {"stderr_tail": self.process.stderr.text(), "stderr_truncated": self.process.stderr.truncated}

    def _crash_error(self, when: str, detail: str, cls: type[PluginFailure], hook: str | None = None) -> PluginFailure:
        code = self.process.wait(1.0)
        if code is None:  # closed stdout but still running
            self.process.kill(self.term_grace)
            code = self.process.returncode
        sig = signal_name(code)
        if sig:
            how = f"was killed by {sig}"
            hint = ("SIGKILL often means the out-of-memory killer; check its memory use" if sig == "SIGKILL"
                    else "see the stderr tail below for the fault (Python plugins print a faulthandler trace)")
        elif detail:
            how = f"{detail} (exit code {code})"
            hint = "see the stderr tail below"
        else:
            how = f"exited with code {code}"
            hint = "see the stderr tail below; a plugin must not exit on its own"
        message = f"plugin '{self.name}' {how} {when}"
        fields = self._stderr_fields()
        if not str(fields["stderr_tail"]).strip() and "stderr tail below" in hint:  # nothing to point at
            hint = hint.replace("see the stderr tail below", "it wrote nothing on stderr")
            if not sig:
                hint += " (look for sys.exit/os._exit/process.exit in its code)"
        if cls is PluginCrashed and self._over_limit("", str(fields["stderr_tail"])[-2000:]):
            return self._resource_limit(
                f"{message}: it ran out of memory under its limit of {self.memory_limit_mb:g} MB", hook=hook, **fields)
        if cls is PluginCrashed:
            return PluginCrashed(message, plugin=self.name, exit_code=None if sig else code, signal_name=sig,
                                 hint=hint, hook=hook, **fields)
        return cls(message, plugin=self.name, hint=hint, hook=hook, **fields)

    def _load_failed(self, params: Any) -> PluginLoadFailed:
        try:
            failure = LoadFailure.parse(params)
        except ProtocolViolation as exc:
            failure = LoadFailure("Error", str(exc), "raised", None, None, None, None, "")
        self.process.wait(1.0)  # the runner exits right after: let its stderr reach the tail
        return PluginLoadFailed(
            load_failure_message(self.name, failure), plugin=self.name, error_type=failure.type,
            kind=failure.kind, file=failure.file, line=failure.line, column=failure.column, source=failure.source,
            traceback=failure.traceback, hint=load_hint(failure.kind, self.process.spec.language),
            **self._stderr_fields(),
        )

    def _plugin_error(self, error: dict[str, Any], method: str) -> PluginFailure:
        kind = str(error.get("type") or "Error")
        message = str(error.get("message") or "")
        hook = error.get("hook") or method
        if self._over_limit(kind, f"{kind}: {message[:2000]}"):
            return self._fail(self._resource_limit(
                f"plugin '{self.name}' ran out of memory under its limit of {self.memory_limit_mb:g} MB in {hook} "
                f"({kind}: {message[:200]}); its process tree was killed", hook=hook, **self._stderr_fields(),
            ))
        at = error.get("at")
        where = f" at candle {at} of the batch" if isinstance(at, int) and hook == "on_candle" else ""
        shown = message if len(message) <= 2000 else message[:2000] + f"... ({len(message)} characters)"
        return PluginError(
            f"plugin '{self.name}' raised {kind} in {hook}{where}: {shown}", plugin=self.name,
            error_type=kind, traceback=str(error.get("traceback") or ""), at=at if isinstance(at, int) else None,
            hook=hook, hint="fix the plugin code (its traceback is below); the run's other plugins are unaffected",
        )

    def _protocol_error(self, exc: ProtocolViolation) -> PluginFailure:
        cls = FrameTooLarge if isinstance(exc, FrameSizeViolation) else PluginProtocolError
        return self._fail(cls(
            f"plugin '{self.name}' broke the protocol: {exc}", plugin=self.name,
            hint="something in the plugin writes to the protocol stream, or its SDK is incompatible",
            **self._stderr_fields(),
        ))

    def _stack(self) -> tuple[str | None, dict[str, Any] | None, str]:
        """The plugin's stack before it is killed: (dump, its innermost own frame, "; it was at ..." text)."""
        if self._failure is not None or self.stack_wait <= 0:
            return None, None, ""
        dump = capture_stack(self.process, self.stack_wait)
        if dump is None:
            return None, None, ""
        stopped_at = {"file": dump.file, "line": dump.line, "function": dump.function} if dump.file else None
        where = dump.where()
        return dump.text, stopped_at, (f"; it was at {where}" if where else "")

    def _timeout(self, method: str, timeout: float) -> PluginFailure:
        stack, stopped_at, where = self._stack()
        return self._fail(PluginTimeout(
            f"plugin '{self.name}' did not answer within {timeout:g}s {doing(method)}{where}; "
            "its process tree was killed",
            plugin=self.name, timeout=timeout, hook=method, stack=stack, stopped_at=stopped_at,
            hint="it may be stuck in a loop (its stack is below); raise --call-timeout if it is just slow",
            **self._stderr_fields(),
        ))

    def _handle(self, body: bytes) -> None:
        message = decode_message(body)
        if isinstance(message, Response):
            if message.msgid not in self._waiting or message.msgid in self._responses:
                raise ProtocolViolation("unexpected response", f"no request with id {message.msgid} is waiting")
            self._responses[message.msgid] = message
        elif isinstance(message, Notification):
            if message.method == "hook_error" and isinstance(message.params, dict):
                self.hook_errors.append(message.params)
            elif not self._notifications and self._hello is None:
                self._notifications.append(message)  # the first message must be hello (checked by wait_hello)
            # other notifications are from a newer SDK: ignored (PROTOCOL.md section 3), never queued
        elif isinstance(message, Request):
            raise ProtocolViolation("unexpected request", f"plugins may not send requests ({message.method!r})")

    def _read_available(self) -> None:
        # readinto a reused buffer: os.read(fd, 1 MiB) would allocate (mmap) and free a 1 MiB object per
        # call, which cost more than the rest of a small round trip together.
        buffer, view = _read_buffer()
        while True:
            try:
                count = os.readv(self.process.stdout_fd, [buffer])
            except BlockingIOError:
                return
            except OSError:
                count = 0
            if not count:
                self._stdout_open = False
                self._poll.unregister(self.process.stdout_fd)
                return
            for body in self._decoder.feed(view[:count]):
                self._handle(body)
            if count < _READ_CHUNK:
                return

    def _pump(self, deadline: float, done: Callable[[], bool], method: str | None = None) -> None:
        """Read (and write what is queued) until `done()` or the deadline."""
        poll = self._poll
        stdin_fd = self.process.stdin_fd
        try:
            while not done():
                now = time.monotonic()
                wait_until = deadline
                if self._decoder.partial_since is not None:
                    stall = self._decoder.partial_since + self.partial_frame_timeout
                    if now >= stall:
                        raise ProtocolViolation("partial frame stalled",
                                                f"{self._decoder.buffered} bytes of a frame, then nothing for "
                                                f"{self.partial_frame_timeout:g}s")
                    wait_until = min(wait_until, stall)
                if now >= deadline:
                    raise _Deadline()
                if self._exited:
                    self._check_truncated()
                    raise _Exited("")
                if self.memory_limit_mb is not None and method is not None:
                    self._check_memory()
                    wait_until = min(wait_until, now + _MEMORY_CHECK_INTERVAL)
                writing = bool(self._outbox)
                if writing:
                    poll.register(stdin_fd, select.POLLOUT)
                events = poll.poll(0) if writing else _spin(poll)
                if not events:
                    events = poll.poll(max(0.0, (wait_until - now) * 1000) + 1)
                if writing:
                    poll.unregister(stdin_fd)
                for fd, _ in events:
                    if fd == self.process.stdout_fd:
                        self._read_available()
                    elif fd == self.process.pidfd:
                        self._on_exit()
                    elif fd == stdin_fd and writing:
                        self._flush()
                if not self._stdout_open and not done():
                    self._on_exit()
                if self.process.pidfd is None and self.process.poll() is not None:
                    self._on_exit()
        except ProtocolViolation as exc:
            raise self._protocol_error(exc) from None

    def _check_truncated(self) -> None:
        """A clean exit (code 0) that leaves half a frame behind is a protocol error, not a crash: the
        plugin believed it had answered. A crash by signal or with a non-zero code stays a crash."""
        if self._decoder.buffered and self.process.wait(1.0) == 0:
            self._decoder.check_eof()

    def _on_exit(self) -> None:
        """The process is gone (or closed stdout): read what it left in the pipe, then report."""
        if self._stdout_open:
            with contextlib.suppress(ProtocolViolation):
                self._read_available()  # a grandchild may still hold the pipe: take what is there, don't wait
        self._exited = True
        if self.process.pidfd is not None:
            with contextlib.suppress(KeyError):
                self._poll.unregister(self.process.pidfd)

    def _flush(self) -> None:
        """Write queued frames until the pipe is full (never blocks)."""
        outbox = self._outbox
        while outbox:
            data = outbox[0]
            try:
                written = os.write(self.process.stdin_fd, data)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    outbox.clear()
                    self._on_exit()
                    raise _Exited("stopped reading its input") from None
                raise
            if written < len(data):
                outbox[0] = data[written:]
                return
            outbox.popleft()
