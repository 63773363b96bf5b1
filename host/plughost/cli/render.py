"""How results look in a terminal: rich tables on stdout, progress on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from ..executor.results import format_number

if TYPE_CHECKING:
    from rich.progress import Progress

_METRIC_ROWS = (
    ("num_trades", "trades", "{:.0f}"),
    ("total_pnl", "total P&L", "{:,.2f}"),
    ("return_pct", "return", "{:+.2f}%"),
    ("buy_and_hold_return_pct", "buy & hold", "{:+.2f}%"),
    ("win_rate", "win rate", "{:.1%}"),
    ("profit_factor", "profit factor", "{:.2f}"),
    ("max_drawdown", "max drawdown", "{:.2f}%"),
    ("sharpe", "sharpe", "{:.2f}"),
    ("exposure", "exposure", "{:.1f}%"),
)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_run_summary(summary: dict[str, Any], run_dir: Path | None) -> None:
    out = console()
    status = summary.get("status")
    colour = "green" if status == "ok" else "red"
    table = Table(title=f"{summary.get('strategy')} [{colour}]{status}[/]  ({summary.get('run_id')})",
                  show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column(justify="right")
    metrics = summary.get("metrics") or {}
    for key, label, pattern in _METRIC_ROWS:
        table.add_row(label, format_number(metrics.get(key), pattern))
    table.add_row("candles", f"{summary.get('candles', 0):,}")
    ignored, rejected = summary.get("ignored_signals", 0), summary.get("rejected_signals", 0)
    table.add_row("ignored / rejected signals", f"{ignored} / {rejected}")
    for plugin, values in (summary.get("plugin_metrics") or {}).items():
        for name, value in values.items():
            table.add_row(f"{plugin}: {name}", format_number(value, "{:,.4g}"))
    out.print(table)
    for warning in summary.get("warnings") or []:
        console(stderr=True).print(f"[yellow]warning[/] {warning.get('plugin')} {warning.get('hook') or ''}: "
                                   f"{warning.get('message')}")
    if run_dir is not None:
        out.print(f"[dim]results:[/] {run_dir}")


def candle_progress(stream: Any = None, *, force_terminal: bool | None = None) -> Progress:
    """The bar of one run: candles done of the total, percent, elapsed and time left."""
    # imported here: a run whose stderr is not a terminal shows no bar and need not load rich.progress
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(bar_width=None),
                    MofNCompleteColumn(), TextColumn("candles"), TaskProgressColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=Console(file=stream or sys.stderr, highlight=False, force_terminal=force_terminal),
                    transient=True)


@contextmanager
def run_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A live bar on stderr when it is a terminal (candles done of the run's total, ETA); silent otherwise
    (logs, CI, pipes). The callback takes (candles just done, total candles of the run)."""
    if not sys.stderr.isatty():
        yield lambda n, total: None
        return
    progress = candle_progress()
    with progress:
        task = progress.add_task(label, total=None)

        def advance(n: int, total: int) -> None:
            progress.update(task, advance=n, total=total or None)

        yield advance
