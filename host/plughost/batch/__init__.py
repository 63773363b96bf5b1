"""Batch runs: batch files and sweeps, a worker pool (or Ray), a crash-safe journal, resume, and a report.

    from plughost.batch import load_batch, run_batch
    batch = load_batch(Path("sweep.toml"))
    result = run_batch(batch, Path("out"), registry=Registry.discover(), workers=2, resume=True)

See docs/batch.md for the batch file format and the guarantees.
"""

from __future__ import annotations

from ..errors import BatchFileError, BatchLocked, PluginQuarantined, RunInterrupted, WorkerLost
from .journal import Journal, RunRow
from .runner import BatchResult, run_batch
from .spec import BatchOptions, BatchSpec, RunSpec, load_batch

__all__ = [
    "BatchFileError", "BatchLocked", "BatchOptions", "BatchResult", "BatchSpec", "Journal", "PluginQuarantined",
    "RunInterrupted", "RunRow", "RunSpec", "WorkerLost", "load_batch", "run_batch",
]
