"""The batch runner's own errors, as branches of the `plughost.errors` tree.

    ConfigError     +-- BatchFileError       a batch file is unreadable or invalid (CONFIG_INVALID, exit 2)
    PlughostError   +-- JournalCorrupt       DIR/.plughost/journal.sqlite is not a readable database (JOURNAL_CORRUPT)
    PlughostError   +-- RecordFailed         the host could not record one run's result; that run fails (RECORD_FAILED)
    PlughostError   +-- BatchLocked          another host holds the output folder (BATCH_LOCKED, exit 2)
    PluginFailure   +-- PluginQuarantined    the plugin crashed again and again; not spawned (PLUGIN_QUARANTINED)
    PlughostError   +-- WorkerLost           the worker process running a run died (WORKER_LOST)
    PlughostError   +-- RunInterrupted       the batch was stopped (Ctrl-C) while the run was in flight (INTERRUPTED)
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, PlughostError, PluginFailure


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


class PluginQuarantined(PluginFailure):
    code = "PLUGIN_QUARANTINED"


class WorkerLost(PlughostError):
    code = "WORKER_LOST"

    def __init__(self, message: str, *, exit_code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code

    def details(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code}


class RunInterrupted(PlughostError):
    code = "INTERRUPTED"
