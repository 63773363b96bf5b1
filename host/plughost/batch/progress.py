"""Batch progress on stderr: a rich bar (done / failed / running, ETA) on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class BatchProgress:
    def __init__(self, *, enabled: bool = True, tty: bool | None = None, label: str = "batch") -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.label = label
        self.total = 0
        self.done = 0
        self.failed = 0
        self.running: set[str] = set()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        self._t0 = time.monotonic()

    def begin(self, *, total: int, done: int, failed: int) -> None:
        self.total, self.done, self.failed = total, done, failed
        self._t0 = time.monotonic()
        if not self.enabled:
            return
        if self.tty:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=None), MofNCompleteColumn(),
                TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/] "
                           "[cyan]{task.fields[running]} running[/]"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self._console, transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=total, completed=done, ok=done - failed,
                                            failed=failed, running=0)
        elif done:
            self._line(f"{done} of {total} runs already finished; running the other {total - done}")

    def _line(self, text: str) -> None:
        print(f"[plughost batch] {text}", file=sys.stderr, flush=True)

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done, ok=self.done - self.failed, failed=self.failed,
                             running=len(self.running))

    def started(self, run_id: str) -> None:
        self.running.add(run_id)
        if self.enabled:
            self._refresh()

    def finished(self, run_id: str, status: str, code: str | None) -> None:
        self.running.discard(run_id)
        self.done += 1
        self.failed += status != "ok"
        if not self.enabled:
            return
        if self._bar is not None:
            if status != "ok":
                self._bar.console.print(f"[red]failed[/] {run_id} ({code})")
            self._refresh()
        else:
            elapsed = time.monotonic() - self._t0
            self._line(f"[{self.done}/{self.total}] {status} {run_id}" + (f" ({code})" if code else "")
                       + f"  {self.failed} failed, {len(self.running)} running, {elapsed:.1f}s")

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(f"[yellow]{text}[/]")
        else:
            self._line(text)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end()
