"""The seam between the batch runner and where runs execute (`local` processes or a `ray` cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import PlughostError
from .job import BatchJob, JobResult


@dataclass(frozen=True)
class Completion:
    """A job came back: with its worker's result, or with the error that lost it (worker death)."""

    job: BatchJob
    result: JobResult | None
    lost: PlughostError | None


class Engine(Protocol):
    name: str

    def start(self) -> None: ...

    @property
    def warm_active(self) -> bool: ...

    def free_slots(self) -> int: ...

    def in_flight(self) -> list[BatchJob]: ...

    def submit(self, job: BatchJob) -> str:
        """Start the job; returns a worker label for the journal."""
        ...

    def poll(self, timeout: float) -> list[Completion]: ...

    def stop(self, *, interrupt: bool = False) -> None: ...
