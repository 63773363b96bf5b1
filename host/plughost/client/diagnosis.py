"""Layer 3b: what went wrong with a plugin, as a typed error a user can act on.

The one place that turns a wire error (a response's error map, a load failure), a process exit, a
protocol violation or a missed deadline into an error of `plughost.errors`, with its wording and hint.
Pure: the session gathers the facts (exit code, stderr tail, stack dump) and passes them in as records,
so every message can be tested without a process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    FrameTooLarge,
    HandshakeError,
    PluginCrashed,
    PluginError,
    PluginLoadFailed,
    PluginProtocolError,
    PluginStartTimeout,
    PluginTimeout,
    ResourceLimitExceeded,
)
from ..protocol.framing import FrameSizeViolation, ProtocolViolation
from ..protocol.messages import PROTOCOL_VERSIONS, Hello, LoadFailure
from ..protocol.methods import Hook, Method
from ..transport.process import signal_name
from ..transport.stack import StackDump

# How users know the protocol's methods (error messages say what the plugin was doing, not the wire name).
_DOING: dict[str, str] = {
    Method.INITIALIZE: "in initialize",
    Method.CANDLES: "while processing a batch of candles",
    Method.TRADES: "while receiving closed trades",
    Method.PRE_RUN: "in on_pre_run",
    Method.POST_RUN: "in on_post_run",
    Method.PING: "while answering a ping",
    Method.SHUTDOWN: "while shutting down",
}


def doing(method: str) -> str:
    return _DOING.get(method, f"in {method}")


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


@dataclass(frozen=True)
class Stderr:
    """The plugin's stderr tail when the failure was seen."""

    tail: str
    truncated: bool

    def fields(self) -> dict[str, Any]:
        return {"stderr_tail": self.tail, "stderr_truncated": self.truncated}


@dataclass(frozen=True)
class WireError:
    """A response's error map (PROTOCOL.md section 5): what a plugin's code raised, and where."""

    type: str
    message: str
    hook: str | None
    at: int | None  # the candle of the batch, for on_candle
    traceback: str

    @classmethod
    def parse(cls, error: dict[str, Any]) -> WireError:
        hook, at = error.get("hook"), error.get("at")
        return cls(type=str(error.get("type") or "Error"), message=str(error.get("message") or ""),
                   hook=str(hook) if hook else None, at=at if isinstance(at, int) else None,
                   traceback=str(error.get("traceback") or ""))


@dataclass(frozen=True)
class HookErrorReport:
    """A feature's `hook_error` notification (PROTOCOL.md section 7), typed: the first failure of a hook
    called from a notification, and how many of that notification's calls raised."""

    hook: str
    error: PluginError
    count: int


_STACK_HINT_START = "it may hang while importing; raise --start-timeout if it is just slow"
_STACK_HINT_CALL = "it may be stuck in a loop (its stack is below); raise --call-timeout if it is just slow"


def _stack_fields(stack: StackDump | None) -> tuple[dict[str, Any], str]:
    """The error's stack fields, and the "; it was at FILE:LINE" its message ends with."""
    if stack is None:
        return {"stack": None, "stopped_at": None}, ""
    stopped_at = {"file": stack.file, "line": stack.line, "function": stack.function} if stack.file else None
    where = stack.where()
    return {"stack": stack.text, "stopped_at": stopped_at}, (f"; it was at {where}" if where else "")


class Diagnosis:
    """The errors of one plugin (its name and language; its memory limit once the run sets one)."""

    def __init__(self, name: str, language: str) -> None:
        self.name = name
        self.language = language
        self.memory_limit_mb: float | None = None

    # -- exits ------------------------------------------------------------------------------------

    def _exit(self, when: str, exit_code: int | None, detail: str, stderr: Stderr) -> tuple[str, str, str | None]:
        """(message, hint, signal name) of a process that went away `when`."""
        sig = signal_name(exit_code)
        quiet = not stderr.tail.strip()  # nothing to point at
        pointer = "it wrote nothing on stderr" if quiet else "see the stderr tail below"
        if sig == "SIGKILL":
            how, hint = f"was killed by {sig}", "SIGKILL often means the out-of-memory killer; check its memory use"
        elif sig:
            how, hint = f"was killed by {sig}", f"{pointer} for the fault (Python plugins print a faulthandler trace)"
        elif detail:
            how, hint = f"{detail} (exit code {exit_code})", pointer
        else:
            how, hint = f"exited with code {exit_code}", f"{pointer}; a plugin must not exit on its own"
        if quiet and not sig:
            hint += " (look for sys.exit/os._exit/process.exit in its code)"
        return f"plugin '{self.name}' {how} {when}", hint, sig

    def crashed(self, when: str, exit_code: int | None, stderr: Stderr, *, detail: str = "",
                hook: str | None = None) -> PluginCrashed | ResourceLimitExceeded:
        """The process exited (or closed its output) `when` (e.g. "while processing a batch of candles")."""
        message, hint, sig = self._exit(when, exit_code, detail, stderr)
        if self._over_limit("", stderr.tail[-2000:]):
            return self._resource_limit(f"{message}: it ran out of memory under its limit of "
                                        f"{self.memory_limit_mb:g} MB", hook=hook, **stderr.fields())
        return PluginCrashed(message, plugin=self.name, exit_code=None if sig else exit_code, signal_name=sig,
                             hint=hint, hook=hook, **stderr.fields())

    def died_before_hello(self, exit_code: int | None, stderr: Stderr, *, detail: str = "") -> HandshakeError:
        message, hint, _ = self._exit("before its handshake (hello)", exit_code, detail, stderr)
        return HandshakeError(message, plugin=self.name, hint=hint, hook=None, **stderr.fields())

    # -- the handshake ----------------------------------------------------------------------------

    def load_failed(self, params: Any, stderr: Stderr) -> PluginLoadFailed:
        """The runner's `load_error` notification: the plugin's code could not be imported."""
        try:
            failure = LoadFailure.parse(params)
        except ProtocolViolation as exc:
            failure = LoadFailure("Error", str(exc), "raised", None, None, None, None, "")
        return PluginLoadFailed(
            load_failure_message(self.name, failure), plugin=self.name, error_type=failure.type,
            kind=failure.kind, file=failure.file, line=failure.line, column=failure.column, source=failure.source,
            traceback=failure.traceback, hint=load_hint(failure.kind, self.language), **stderr.fields(),
        )

    def not_hello(self, method: str, stderr: Stderr) -> HandshakeError:
        return HandshakeError(f"plugin '{self.name}' sent {method!r} before its handshake", plugin=self.name,
                              hint="the plugin must use a plughost SDK runner", **stderr.fields())

    def bad_hello(self, exc: ProtocolViolation, stderr: Stderr) -> HandshakeError:
        return HandshakeError(f"plugin '{self.name}' sent a bad hello: {exc}", plugin=self.name, **stderr.fields())

    def foreign_protocol(self, hello: Hello) -> HandshakeError | None:
        """None when the plugin speaks a protocol version this host speaks."""
        if hello.protocol in PROTOCOL_VERSIONS:
            return None
        return HandshakeError(
            f"plugin '{self.name}' speaks protocol version {hello.protocol}; this host speaks "
            f"{', '.join(map(str, PROTOCOL_VERSIONS))} ({hello.sdk} {hello.sdk_version})",
            plugin=self.name, hint="upgrade the plugin's SDK or plughost so that they share a version",
        )

    # -- calls ------------------------------------------------------------------------------------


    def hook_error(self, params: Any) -> HookErrorReport:
        """A `hook_error` notification's params (any shape a plugin sends) as a typed report."""
        raw = params if isinstance(params, dict) else {}
        hook = str(raw.get("hook") or Hook.ON_CANDLE)
        wire = WireError.parse(raw["error"] if isinstance(raw.get("error"), dict) else {})
        count = raw.get("count")
        where = f" (event {wire.at} of the notification)" if wire.at is not None else ""
        error = PluginError(
            f"feature '{self.name}' raised {wire.type} in {hook}{where}: {wire.message[:2000]}",
            plugin=self.name, error_type=wire.type, traceback=wire.traceback, at=wire.at, hook=hook,
            hint="fix the feature (its traceback is in this record); the strategy's trades are unaffected",
        )
        return HookErrorReport(hook, error, count if isinstance(count, int) and count > 0 else 1)
    def raised(self, error: WireError, method: str) -> PluginError | None:
        """The plugin's code raised `error` while answering `method`; None when that came from its memory
        limit (then `out_of_memory` describes it)."""
        if self._over_limit(error.type, f"{error.type}: {error.message[:2000]}"):
            return None
        hook = error.hook or method
        at = error.at
        where = f" at candle {at} of the batch" if at is not None and hook == Hook.ON_CANDLE else ""
        message = error.message
        shown = message if len(message) <= 2000 else message[:2000] + f"... ({len(message)} characters)"
        return PluginError(
            f"plugin '{self.name}' raised {error.type} in {hook}{where}: {shown}", plugin=self.name,
            error_type=error.type, traceback=error.traceback, at=at, hook=hook,
            hint="fix the plugin code (its traceback is below); the run's other plugins are unaffected",
        )

    def out_of_memory(self, error: WireError, method: str, stderr: Stderr) -> ResourceLimitExceeded:
        """A MemoryError (or V8's allocation failure) under the memory limit (RLIMIT_AS)."""
        hook = error.hook or method
        return self._resource_limit(
            f"plugin '{self.name}' ran out of memory under its limit of {self.memory_limit_mb:g} MB in {hook} "
            f"({error.type}: {error.message[:200]}); its process tree was killed", hook=hook, **stderr.fields(),
        )

    def over_memory(self, rss_mb: float, stderr: Stderr) -> ResourceLimitExceeded:
        """The watchdog saw the plugin's resident size over its limit."""
        return self._resource_limit(
            f"plugin '{self.name}' used {rss_mb:.0f} MB of memory, over its limit of "
            f"{self.memory_limit_mb:g} MB; its process tree was killed", used_mb=round(rss_mb, 1),
            **stderr.fields(),
        )

    def broke_protocol(self, exc: ProtocolViolation, stderr: Stderr) -> PluginProtocolError | FrameTooLarge:
        cls = FrameTooLarge if isinstance(exc, FrameSizeViolation) else PluginProtocolError
        return cls(f"plugin '{self.name}' broke the protocol: {exc}", plugin=self.name,
                   hint="something in the plugin writes to the protocol stream, or its SDK is incompatible",
                   **stderr.fields())

    # -- deadlines --------------------------------------------------------------------------------

    def start_timed_out(self, timeout: float, stack: StackDump | None, stderr: Stderr) -> PluginStartTimeout:
        fields, where = _stack_fields(stack)
        return PluginStartTimeout(f"plugin '{self.name}' did not complete its handshake within {timeout:g}s{where}",
                                  plugin=self.name, hint=_STACK_HINT_START, **fields, **stderr.fields())

    def timed_out(self, method: str, timeout: float, stack: StackDump | None, stderr: Stderr) -> PluginTimeout:
        fields, where = _stack_fields(stack)
        return PluginTimeout(
            f"plugin '{self.name}' did not answer within {timeout:g}s {doing(method)}{where}; "
            "its process tree was killed",
            plugin=self.name, timeout=timeout, hook=method, hint=_STACK_HINT_CALL, **fields, **stderr.fields(),
        )

    # -- memory -----------------------------------------------------------------------------------

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
