"""What crosses between the batch runner and its workers (local processes or Ray tasks): one attempt of
one run out, its result back. Plain fields only, so both pickle as they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BatchJob:
    run_id: str
    run: dict[str, Any]          # the run's RunConfig as its user dict
    base_dir: str                # relative paths of the run are relative to it (the batch file's folder)
    out_dir: str
    attempt: int
    dispatched: float | None = None  # the host's monotonic clock at dispatch (local workers): start costs


@dataclass(frozen=True)
class JobResult:
    """A worker's report of a job; the host builds one too for a job it lost, refused or could not record."""

    run_id: str
    attempt: int
    status: str                  # ok | failed
    error: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    plugin_metrics: dict[str, Any] | None = None
    started_at: float | None = None
    duration_s: float | None = None
    start_cost_s: float | None = None       # dispatch to the strategy's handshake
    task_start_cost_s: float | None = None  # the worker's own start of the run to the handshake
    spawn_s: float | None = None
    worker: str | None = None
    warm: bool = False
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # Ray: the run folder, published by the host

    @property
    def code(self) -> str | None:
        return str(self.error.get("code")) if isinstance(self.error, dict) and self.error.get("code") else None


__all__ = ["BatchJob", "JobResult"]
