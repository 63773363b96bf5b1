"""The Ray engine (`--engine ray [--address ADDR]`, needs `pip install plughost[ray]`).

Each run is one Ray task (`num_cpus=1`, no Ray-level retries: the batch runner retries, as it does
locally). The task runs `run_backtest` on its node into a temporary folder there, reads the run's files
back and returns them with the result; the driver (this host) writes them into DIR/runs/<id>/ (temp
folder + rename) and then commits the journal row, so the resume semantics are the local engine's.

Cluster: without an address (and no RAY_ADDRESS) a local Ray instance is started with one CPU per
worker; `--address auto` or `ray://head:10001` attaches to a running cluster. Every node needs plughost
installed and the plugins and data at the same paths as on the driver (a shared filesystem), or a
`runtime_env` that ships them; see docs/batch.md.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UsageError, WorkerLost
from ..safefile import replace_dir
from .engine import Completion
from .job import BatchJob, JobResult

# Imported by name: the same types whether or not the `ray` extra is installed (mypy runs in both).
ray: Any
try:
    ray = importlib.import_module("ray")
except ImportError:  # pragma: no cover - depends on the extra
    ray = None

_REGISTRIES: dict[tuple[str, ...], Any] = {}


def _task(job: BatchJob, roots: list[str], warm: bool) -> JobResult:
    """Runs inside a Ray worker process (reused across tasks: registry and warm pool are kept)."""
    from ..plugins.registry import Registry
    from .worker import enable_warm, execute_job

    enable_warm(warm)
    key = tuple(roots)
    registry = _REGISTRIES.get(key)
    if registry is None:
        registry = _REGISTRIES[key] = Registry.discover([Path(r) for r in roots])
    tmp = Path(tempfile.mkdtemp(prefix="plughost-ray-"))
    try:
        result = execute_job(job, registry, tmp)
        run_dir = tmp / "runs" / job.run_id
        files: dict[str, bytes] = {}
        if run_dir.is_dir():
            for path in sorted(run_dir.rglob("*")):
                if path.is_file():
                    files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
        # no dispatch time crosses to a Ray node: the start cost is the task's own
        return replace(result, start_cost_s=result.task_start_cost_s, files=files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_files(out_dir: Path, run_id: str, files: dict[str, bytes]) -> Path:
    """Write a run's files whole or not at all: a temp folder, summary.json last, then rename."""
    runs = out_dir / "runs"
    final = runs / run_id
    tmp = runs / f".tmp-{run_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for rel, data in sorted(files.items(), key=lambda kv: kv[0] == "summary.json"):
        target = tmp / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)
            if rel == "summary.json":
                fh.flush()
                os.fsync(fh.fileno())
    return replace_dir(tmp, final)


class RayEngine:
    name = "ray"

    def __init__(self, workers: int, *, roots: list[Path], out_dir: Path, warm: bool, address: str | None) -> None:
        if ray is None:
            raise UsageError("--engine ray needs Ray: pip install 'plughost[ray]'",
                             hint="or run the batch with the default --engine local")
        self.size = max(1, workers)
        self.roots = [str(Path(r).resolve()) for r in roots]
        self.out_dir = out_dir
        self.warm = warm
        self.address = address
        self._owned = False
        self._remote: Any = None
        self._refs: dict[Any, BatchJob] = {}
        self._warm_seen = False

    def start(self) -> None:
        assert ray is not None
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.size, include_dashboard=False, log_to_driver=False)
            self._owned = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_task)

    @property
    def warm_active(self) -> bool:
        return self._warm_seen

    def free_slots(self) -> int:
        return self.size - len(self._refs)

    def in_flight(self) -> list[BatchJob]:
        return list(self._refs.values())

    def submit(self, job: BatchJob) -> str:
        ref = self._remote.remote(job, self.roots, self.warm)
        self._refs[ref] = job
        return "ray"

    def poll(self, timeout: float) -> list[Completion]:
        assert ray is not None
        if not self._refs:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        done: list[Completion] = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # the task's worker died, or Ray itself failed the task
                done.append(Completion(job, None, WorkerLost(
                    f"the Ray task running {job.run_id} failed: {type(exc).__name__}: {str(exc)[:500]}",
                    hint="the run will be retried; check the Ray logs of the node (ray logs)")))
                continue
            if result.files:
                publish_files(self.out_dir, job.run_id, result.files)
            self._warm_seen |= result.warm
            done.append(Completion(job, replace(result, files={}), None))
        return done

    def stop(self, *, interrupt: bool = False) -> None:
        assert ray is not None
        if interrupt:
            for ref in list(self._refs):
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owned and ray.is_initialized():
            ray.shutdown()
            self._owned = False
