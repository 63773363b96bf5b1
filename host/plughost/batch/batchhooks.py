"""The seams of a batch host, for instrumentation and test faults. Production passes none.

    hooks = BatchHooks(at=lambda point, run_id: ..., worker_command=(sys.executable, "my_worker.py"))
    run_batch(batch, out, registry=reg, hooks=hooks)

`at` is called at the named points of the runner's loop with the run's id; at AFTER_FILES it is part of
recording the result, so an exception it raises fails that run as RECORD_FAILED (a recording fault).

A local worker is a fresh interpreter, so hooks cannot be handed to it as objects: `worker_command` starts a
program of the caller's instead of plughost's own worker, which calls
`plughost.batch.worker.main(argv, hooks=RunHooks(...))` with the hooks it wants (the engine appends the
worker's three arguments to the command).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BatchPoint(StrEnum):
    BEFORE_DISPATCH = "before-dispatch"  # just before a run is handed to a worker
    AFTER_FILES = "after-files"          # a result arrived (its files are in place), before its journal commit
    AFTER_JOURNAL = "after-journal"      # right after a result's journal commit


@dataclass(frozen=True)
class BatchHooks:
    at: Callable[[BatchPoint, str], None] | None = None
    worker_command: tuple[str, ...] | None = None

    def reached(self, point: BatchPoint, run_id: str) -> None:
        if self.at is not None:
            self.at(point, run_id)
