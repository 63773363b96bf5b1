"""Batch runs: batch files and sweeps, a worker pool (or Ray), a crash-safe journal, resume, and a report.

    from plughost.batch import load_batch, run_batch
    batch = load_batch(Path("sweep.toml"))
    result = run_batch(batch, Path("out"), registry=Registry.discover(), workers=2, resume=True)

See docs/batch.md for the batch file format and the guarantees.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import BatchFileError, BatchLocked, PluginQuarantined, RunInterrupted, WorkerLost
from .journal import Journal, RunRow

if TYPE_CHECKING:
    from .runner import BatchResult, run_batch
    from .spec import BatchOptions, BatchSpec, RunSpec, load_batch

# The runner and the batch file reader load on first use (PEP 562): the reports read only the journal, and
# importing the whole package would add ~25 ms (rich.progress, the runner) to every `plughost run`'s report.
_LAZY = {"BatchResult": "runner", "run_batch": "runner", "BatchOptions": "spec", "BatchSpec": "spec",
         "RunSpec": "spec", "load_batch": "spec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

__all__ = [
    "BatchFileError", "BatchLocked", "BatchOptions", "BatchResult", "BatchSpec", "Journal", "PluginQuarantined",
    "RunInterrupted", "RunRow", "RunSpec", "WorkerLost", "load_batch", "run_batch",
]
