"""The seam between the batch runner and where runs execute (`local` processes or a `ray` cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import PlughostError


@dataclass
class Completion:
    """A job came back: with its worker's result dict, or with the error that lost it (worker death)."""

    job: dict[str, Any]
    result: dict[str, Any] | None
    lost: PlughostError | None


class Engine(Protocol):
    name: str

    def start(self) -> None: ...

    @property
    def warm_active(self) -> bool: ...

    def free_slots(self) -> int: ...

    def in_flight(self) -> list[dict[str, Any]]: ...

    def submit(self, job: dict[str, Any]) -> str:
        """Start the job; returns a worker label for the journal."""
        ...

    def poll(self, timeout: float) -> list[Completion]: ...

    def stop(self, *, interrupt: bool = False) -> None: ...
