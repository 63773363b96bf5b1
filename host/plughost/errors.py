"""Every error plughost raises, as one tree, in this one module.

    PlughostError                      base; `.code` is the contract's error code, `.plugin` the plugin's name
    +-- UsageError                     bad command-line input (exit status 2)
    +-- DataError                      a candle/alert file is unreadable or invalid (DATA_INVALID)
    +-- ConfigError                    a run config or plugin config breaks its schema (CONFIG_INVALID)
    |   +-- BatchFileError             a batch file is unreadable or invalid (CONFIG_INVALID)
    +-- ManifestError                  a plugin.json is invalid (MANIFEST_INVALID)
    +-- StateError                     ~/.plughost/state.json is corrupt (STATE_INVALID; fails closed)
    +-- UnsafeOutput                   a run id / --out that would write outside --out (OUTPUT_REFUSED)
    +-- DiskFull                       no space left while writing results (DISK_FULL)
    +-- SandboxUnavailable             --sandbox without bubblewrap or unshare (SANDBOX_UNAVAILABLE)
    +-- PluginNotFound                 no plugin of that name (suggests the closest names)
    +-- PluginDisabled                 the plugin is disabled (says how to enable it)
    +-- JournalCorrupt                 DIR/.plughost/journal.sqlite is not a readable database (JOURNAL_CORRUPT)
    +-- RecordFailed                   the host could not record one run's result; that run fails (RECORD_FAILED)
    +-- BatchLocked                    another host holds the batch's output folder (BATCH_LOCKED)
    +-- WorkerLost                     the batch worker process running a run died (WORKER_LOST)
    +-- RunInterrupted                 the batch was stopped (Ctrl-C) while the run was in flight (INTERRUPTED)
    +-- PluginFailure                  something went wrong with a running plugin process
        +-- PluginSpawnFailed          the process could not be started (PLUGIN_SPAWN_FAILED)
        +-- PluginLoadFailed           the plugin's code failed to import, or exports no plugin (PLUGIN_LOAD_FAILED)
        +-- PluginStartTimeout         no handshake within the start timeout (PLUGIN_START_TIMEOUT); has .stack
        +-- HandshakeError             a bad or incompatible handshake (PLUGIN_HANDSHAKE_FAILED)
        +-- InterfaceMismatch          the plugin lacks a required method (INTERFACE_MISMATCH)
        +-- PluginCrashed              the process died or closed its stream (PLUGIN_CRASHED)
        +-- PluginTimeout              no answer within the call timeout (PLUGIN_TIMEOUT); has .stack
        +-- PluginProtocolError        garbage on the wire (PLUGIN_PROTOCOL_ERROR)
        |   +-- FrameTooLarge          a frame header over the maximum (PLUGIN_FRAME_TOO_LARGE)
        +-- PluginError                the plugin raised; carries its traceback (PLUGIN_ERROR)
        +-- ResourceLimitExceeded      the plugin went over its memory limit (RESOURCE_LIMIT)
        +-- PluginQuarantined          the plugin failed to start again and again in a batch (PLUGIN_QUARANTINED)

An error is an immutable record: its fields are set when it is made and never after (assigning one raises
AttributeError); `err.evolve(hint=...)` is a copy with fields changed, for a layer that knows more. The
batch's policy is class attributes, looked up by the code a worker reported (`error_class(code)`):
`retryable` (retried by default), `start_failure` (counts towards the plugin's quarantine) and
`init_crash` (counts when it happened in `initialize`, on the run's last attempt).

Warnings (a run's `warnings` in summary.json) carry a `WarningCode`, or the code of the error a
feature's hook raised. Each message says which plugin, what happened and what to do next. `str(err)` is
the one-paragraph form shown to users; `err.to_dict()` is what lands in a run's `summary.json` under
`error`.

Over ~400 lines on purpose: the tree is read (and its docs test walks it) as one piece.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Self


class WarningCode(StrEnum):
    """The codes of a run's `warnings` (summary.json) that are not error codes. A warning never fails the
    run; a feature's failed hook under `onError: continue` is recorded as a warning with its error's code
    (PLUGIN_ERROR, ...) instead. Each has a section in docs/troubleshooting.md."""

    TEARDOWN_FAILED = "TEARDOWN_FAILED"    # a plugin failed its shutdown after every result was in
    METRIC_REFUSED = "METRIC_REFUSED"      # a feature's on_post_run metric is not a number
    ARTIFACT_REFUSED = "ARTIFACT_REFUSED"  # a feature's artifact has an unsafe name or is not str/bytes
    LIQUIDATED = "LIQUIDATED"              # the equity reached zero: every position was closed
    LOOKAHEAD_SUSPECTED = "LOOKAHEAD_SUSPECTED"  # an on_batch strategy decided differently on a cut batch


class _Record(type):
    """Seals an error once its constructor (the most derived one) has run: from then on it is read-only."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        error = super().__call__(*args, **kwargs)
        error.__dict__["_sealed"] = True
        return error


class PlughostError(Exception, metaclass=_Record):
    code: ClassVar[str] = "PLUGHOST_ERROR"
    exit_status: ClassVar[int] = 1
    # the batch runner's policy for a run that failed with this error (see the module docstring)
    retryable: ClassVar[bool] = False
    start_failure: ClassVar[bool] = False
    init_crash: ClassVar[bool] = False

    def __init__(self, message: str, *, plugin: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.plugin = plugin
        self.hint = hint

    def __setattr__(self, name: str, value: Any) -> None:
        # dunders stay writable: the interpreter sets __traceback__, __cause__, __notes__ on raise
        if self.__dict__.get("_sealed") and not (name.startswith("__") and name.endswith("__")):
            raise AttributeError(f"{type(self).__name__} is immutable: use .evolve({name}=...) for a changed copy")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self.__dict__.get("_sealed") and not (name.startswith("__") and name.endswith("__")):
            raise AttributeError(f"{type(self).__name__} is immutable")
        super().__delattr__(name)

    def evolve(self, **changes: Any) -> Self:
        """A copy of this error with `changes` to its fields (the message, the hint, ...): what a layer that
        knows more than the raiser does instead of editing the error it caught."""
        unknown = sorted(set(changes) - set(vars(self)))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        fields = {**vars(self), **changes}
        new = type(self).__new__(type(self), fields["message"])
        new.__dict__.update(fields)  # _sealed included: the copy is as read-only as the original
        return new

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text}\n  -> {self.hint}"
        return text

    def details(self) -> dict[str, Any]:
        """Extra machine-readable fields for summary.json (exit code, stderr tail, ...)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "plugin": self.plugin}
        if self.hint:
            out["hint"] = self.hint
        out.update(self.details())
        return out


class UsageError(PlughostError):
    code = "USAGE_ERROR"
    exit_status = 2


class DataError(PlughostError):
    code = "DATA_INVALID"
    exit_status = 2

    def __init__(
        self,
        message: str,
        *,
        file: str,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.row = row
        self.column = column

    def details(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column}


class ConfigError(PlughostError):
    code = "CONFIG_INVALID"
    exit_status = 2

    def __init__(
        self, message: str, *, plugin: str | None = None, hint: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message, plugin=plugin, hint=hint)
        self.problems = problems or []

    def details(self) -> dict[str, Any]:
        return {"problems": self.problems} if self.problems else {}


class ManifestError(PlughostError):
    code = "MANIFEST_INVALID"
    exit_status = 2

    def __init__(
        self, message: str, *, plugin: str | None = None, path: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, plugin=plugin, hint=hint)
        self.path = path

    def details(self) -> dict[str, Any]:
        return {"path": self.path} if self.path else {}


class StateError(PlughostError):
    """~/.plughost/state.json (which plugins are disabled) exists but cannot be trusted."""

    code = "STATE_INVALID"
    exit_status = 2


class UnsafeOutput(PlughostError):
    """A run id or an output path that would write outside --out, or replace a published run."""

    code = "OUTPUT_REFUSED"
    exit_status = 2


class DiskFull(PlughostError):
    """No space (or quota) left while writing results; the folder named is where the write failed."""

    code = "DISK_FULL"
    exit_status = 1

    def __init__(self, message: str, *, folder: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"free space on the filesystem holding {folder}, then run again "
                         "(a batch: add --resume to keep the runs already finished)")
        self.folder = folder

    def details(self) -> dict[str, Any]:
        return {"folder": self.folder}


class SandboxUnavailable(PlughostError):
    """--sandbox was asked for, but neither bubblewrap nor unshare can create the namespaces here."""

    code = "SANDBOX_UNAVAILABLE"
    exit_status = 2


class PluginNotFound(PlughostError):
    code = "PLUGIN_NOT_FOUND"
    exit_status = 2

    def __init__(self, message: str, *, plugin: str | None = None, hint: str | None = None,
                 suggestions: list[str] | None = None) -> None:
        super().__init__(message, plugin=plugin, hint=hint)
        self.suggestions = suggestions or []  # the closest known names, best first


class PluginDisabled(PlughostError):
    code = "PLUGIN_DISABLED"
    exit_status = 2


class PluginFailure(PlughostError):
    """A running plugin process misbehaved. Carries the process facts needed to act on it."""

    code = "PLUGIN_FAILURE"

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None,
        hint: str | None = None,
        hook: str | None = None,
        stderr_tail: str = "",
        stderr_truncated: bool = False,
    ) -> None:
        super().__init__(message, plugin=plugin, hint=hint)
        self.hook = hook
        self.stderr_tail = stderr_tail
        self.stderr_truncated = stderr_truncated

    def __str__(self) -> str:
        text = super().__str__()
        tail = self.stderr_tail.strip()
        if tail:
            lines = tail.splitlines()[-15:]
            text += "\n  stderr (last lines):\n" + "\n".join(f"    | {line}" for line in lines)
        return text

    def details(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "stderr_tail": self.stderr_tail,
            "stderr_truncated": self.stderr_truncated,
        }


class PluginSpawnFailed(PluginFailure):
    code = "PLUGIN_SPAWN_FAILED"
    start_failure = True


class PluginLoadFailed(PluginFailure):
    """The runner could not load the plugin: a syntax error, a missing module, an exception raised at
    import, or no plugin exported. The message starts with `file:line` and the offending source line."""

    code = "PLUGIN_LOAD_FAILED"

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None,
        error_type: str,
        kind: str,
        file: str | None,
        line: int | None,
        column: int | None = None,
        source: str | None = None,
        traceback: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, plugin=plugin, **kwargs)
        self.error_type = error_type
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.source = source
        self.traceback = traceback

    def __str__(self) -> str:
        # The plugin's traceback, not the stderr tail: the runner printed that same traceback there.
        text = PlughostError.__str__(self)
        lines = self.traceback.strip().splitlines()
        if len(lines) > 1:
            text += "\n  plugin traceback:\n" + "\n".join(f"    | {line}" for line in lines[-20:])
        return text

    def details(self) -> dict[str, Any]:
        return {**super().details(), "type": self.error_type, "kind": self.kind, "file": self.file,
                "line": self.line, "column": self.column, "source": self.source, "traceback": self.traceback}


class _Stopped(PluginFailure):
    """A plugin stopped for not answering in time; carries its stack at that moment when the runtime
    could give it (`stack`, and `stopped_at`, the innermost frame in the plugin's own code)."""

    def __init__(self, message: str, *, plugin: str | None, stack: str | None = None,
                 stopped_at: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, plugin=plugin, **kwargs)
        self.stack = stack
        self.stopped_at = stopped_at

    def __str__(self) -> str:
        text = PlughostError.__str__(self)
        tail = self.stderr_tail
        if self.stack:
            text += "\n  plugin stack when it was stopped (most recent call first):\n" + "\n".join(
                f"    | {line}" for line in self.stack.splitlines()[:40])
            tail = tail.replace(self.stack, "")  # the dump came on stderr: show it once
        lines = tail.strip().splitlines()[-15:]
        if lines:
            text += "\n  stderr (last lines):\n" + "\n".join(f"    | {line}" for line in lines)
        return text

    def details(self) -> dict[str, Any]:
        return {**super().details(), "stack": self.stack, "stopped_at": self.stopped_at}


class PluginStartTimeout(_Stopped):
    code = "PLUGIN_START_TIMEOUT"
    retryable = True
    start_failure = True


class HandshakeError(PluginFailure):
    code = "PLUGIN_HANDSHAKE_FAILED"
    start_failure = True


class InterfaceMismatch(PluginFailure):
    code = "INTERFACE_MISMATCH"


class PluginCrashed(PluginFailure):
    code = "PLUGIN_CRASHED"
    retryable = True
    init_crash = True

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None,
        exit_code: int | None = None,
        signal_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, plugin=plugin, **kwargs)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def details(self) -> dict[str, Any]:
        return {**super().details(), "exit_code": self.exit_code, "signal": self.signal_name}


class PluginTimeout(_Stopped):
    code = "PLUGIN_TIMEOUT"
    retryable = True
    init_crash = True

    def __init__(self, message: str, *, plugin: str | None, timeout: float, **kwargs: Any) -> None:
        super().__init__(message, plugin=plugin, **kwargs)
        self.timeout = timeout

    def details(self) -> dict[str, Any]:
        return {**super().details(), "timeout": self.timeout}


class PluginProtocolError(PluginFailure):
    code = "PLUGIN_PROTOCOL_ERROR"


class FrameTooLarge(PluginProtocolError):
    code = "PLUGIN_FRAME_TOO_LARGE"


class PluginError(PluginFailure):
    """The plugin's own code raised. The process is still healthy."""

    code = "PLUGIN_ERROR"

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None,
        error_type: str,
        traceback: str,
        at: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, plugin=plugin, **kwargs)
        self.error_type = error_type
        self.traceback = traceback
        self.at = at
        self.candle: dict[str, Any] | None = None  # {"symbol", "timestamp"} once the executor located it

    def located(self, symbol: str, timestamp_ms: int) -> PluginError:
        """This error naming the candle the plugin failed on (the executor knows the batch; the session
        does not)."""
        import datetime

        when = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz=datetime.UTC).isoformat(timespec="seconds")
        return self.evolve(candle={"symbol": symbol, "timestamp": timestamp_ms}, message=self.message.replace(
            f" at candle {self.at} of the batch", f" on the {symbol} candle of {when}"))

    def __str__(self) -> str:
        text = PlughostError.__str__(self)
        if self.traceback.strip():
            lines = self.traceback.strip().splitlines()[-20:]
            text += "\n  plugin traceback:\n" + "\n".join(f"    | {line}" for line in lines)
        return text

    def details(self) -> dict[str, Any]:
        return {**super().details(), "type": self.error_type, "traceback": self.traceback, "at": self.at,
                "candle": self.candle}


class ResourceLimitExceeded(PluginFailure):
    code = "RESOURCE_LIMIT"

    def __init__(self, message: str, *, plugin: str | None, resource: str = "memory", limit_mb: float | None = None,
                 used_mb: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, plugin=plugin, **kwargs)
        self.resource = resource
        self.limit_mb = limit_mb
        self.used_mb = used_mb

    def details(self) -> dict[str, Any]:
        return {**super().details(), "resource": self.resource, "limit_mb": self.limit_mb, "used_mb": self.used_mb}


class PluginQuarantined(PluginFailure):
    code = "PLUGIN_QUARANTINED"


# ---------------------------------------------------------------------------------------------- batch


class BatchFileError(ConfigError):
    def __init__(self, message: str, *, file: str, hint: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message, hint=hint or "see `plughost run --help` or docs/batch.md for the format",
                         problems=problems)
        self.file = file


class BatchLocked(PlughostError):
    code = "BATCH_LOCKED"
    exit_status = 2


class JournalCorrupt(PlughostError):
    code = "JOURNAL_CORRUPT"
    exit_status = 2


class RecordFailed(PlughostError):
    """The host could not record a run's result (a bug): that run fails, the batch goes on."""

    code = "RECORD_FAILED"


class WorkerLost(PlughostError):
    code = "WORKER_LOST"
    retryable = True

    def __init__(self, message: str, *, exit_code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code

    def details(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code}


class RunInterrupted(PlughostError):
    code = "INTERRUPTED"


def error_classes() -> list[type[PlughostError]]:
    """Every class of the tree, parents before children (in definition order among siblings)."""
    found: list[type[PlughostError]] = []
    todo: list[type[PlughostError]] = [PlughostError]
    while todo:
        cls = todo.pop(0)
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def error_class(code: str | None) -> type[PlughostError] | None:
    """The class an error code (as in summary.json) stands for; a code shared by a parent and a child (a
    `BatchFileError` is a CONFIG_INVALID) names the parent, whose policy the child inherits."""
    for cls in error_classes():
        if cls.code == code:
            return cls
    return None
