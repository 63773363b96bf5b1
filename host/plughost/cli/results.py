"""`plughost results DIR [--sort METRIC] [--json]` and `plughost report DIR`: the runs of a results folder
(single runs and batches alike), as a table, as JSON, or as the HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from ..safefile import dumps
from .common import handle_errors

if TYPE_CHECKING:  # the reports (Jinja2 and all) load when a command needs them, not at every CLI start
    from ..reports import ResultsFolder, RunRecord

DIR_ARG = click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))


def _folder(out_dir: Path) -> ResultsFolder:
    from ..reports import collect_runs

    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder", hint="pass the --out folder of a `plughost run`")
    return collect_runs(out_dir)


def _check_metric(folder: ResultsFolder, metric: str) -> None:
    from ..reports import LOWER_IS_BETTER

    valid = folder.metric_names()
    if metric not in valid:
        raise UsageError(f"unknown metric {metric!r} for --sort; the runs in {folder.out_dir} have: "
                         + (", ".join(valid) if valid else "none (no run finished ok)"),
                         hint="e.g. --sort sharpe; best first: largest, smallest for "
                              + ", ".join(sorted(LOWER_IS_BETTER)))


def _table(records: list[RunRecord], folder: ResultsFolder, sort: str | None) -> None:
    from rich.table import Table

    from ..batch.cli import stdout_console
    from ..executor.results import format_number

    table = Table(title=f"{len(records)} runs in {folder.out_dir}" + (f", best {sort} first" if sort else ""),
                  title_justify="left", box=None, pad_edge=False, header_style="bold")
    columns = [("run", "left"), ("status", "left"), ("att", "right"), *((p, "left") for p in folder.param_keys),
               ("trades", "right"), ("return", "right"), ("max DD", "right"), ("sharpe", "right")]
    extra = bool(sort) and sort not in ("num_trades", "return_pct", "max_drawdown", "sharpe")
    if extra:
        columns.append((str(sort), "right"))
    for name, justify in (*columns, ("error", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in records:
        colour = {"ok": "green", "failed": "red"}.get(r.status, "yellow")
        m = r.metrics or {}
        cells = [r.run_id, f"[{colour}]{r.status}[/]", "" if r.attempts is None else str(r.attempts),
                 *(str(r.params.get(p, "")) for p in folder.param_keys),
                 format_number(m.get("num_trades"), "{:.0f}"), format_number(m.get("return_pct"), "{:+.2f}%"),
                 format_number(m.get("max_drawdown"), "{:.2f}%"), format_number(m.get("sharpe"), "{:.2f}")]
        if extra:
            cells.append(format_number(m.get(str(sort)), "{:,.4g}"))
        table.add_row(*cells, (r.error or {}).get("code", "") if r.error else "")
    stdout_console().print(table)


@click.command("results")
@DIR_ARG
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
@click.option("--status", type=click.Choice(["ok", "failed", "unfinished"]), help="Only runs in this state.")
@click.option("--sort", metavar="METRIC", help="Best first by this metric (largest first; smallest first for "
              "max_drawdown and max_drawdown_abs); runs without a value last. An unknown name lists the valid ones.")
@handle_errors
def results(out_dir: Path, as_json: bool, status: str | None, sort: str | None) -> None:
    """List the runs in DIR, single runs and batch runs alike (from DIR/runs/*/summary.json and, for a
    batch, its journal): status, attempts, grid parameters, metrics and error code. Exit status 0, or 2
    when DIR holds no run or --sort names an unknown metric."""
    # imported here: the batch modules load pyarrow, which would slow every command's start
    from ..batch.cli import stdout_console
    from ..batch.journal import STATE_DIR, Journal

    folder = _folder(out_dir)
    records = folder.ranked(sort) if sort else folder.runs
    if sort:
        _check_metric(folder, sort)
    if status == "unfinished":
        records = [r for r in records if r.status not in ("ok", "failed")]
    elif status:
        records = [r for r in records if r.status == status]
    if as_json:
        out = []
        journal_path = out_dir / STATE_DIR / "journal.sqlite"
        journal = Journal(journal_path, readonly=True) if journal_path.is_file() else None
        try:
            for r in records:
                d = r.to_dict()
                if journal is not None and r.run_id in folder.journal_rows:
                    row = folder.journal_rows[r.run_id]
                    d.update(started_at=row.started_at, finished_at=row.finished_at, start_cost_s=row.start_cost_s,
                             worker=row.worker, attempt_log=journal.attempts(r.run_id))
                d["report"] = str(r.run_dir / "report.html") if (r.run_dir / "report.html").is_file() else None
                out.append(d)
        finally:
            if journal is not None:
                journal.close()
        click.echo(dumps(out, indent=2))
        return
    _table(records, folder, sort)
    report = out_dir / "report.html"
    if report.is_file():
        stdout_console().print(f"[dim]report:[/] {report}")


@click.command("report")
@DIR_ARG
@click.option("--title", metavar="TEXT", help="Heading of the overview (default: the folder's name).")
@handle_errors
def report(out_dir: Path, title: str | None) -> None:
    """(Re)write the HTML reports of a results folder: DIR/report.html (every run, ranked by any metric,
    grid parameters as columns, a heatmap over two of them, failures) and DIR/runs/<run_id>/report.html
    (price with trades and indicators, equity against buy-and-hold, drawdown, trades, metrics, config).
    Works on any folder written by `plughost run`, with or without a batch journal. The pages are
    self-contained and work offline. Exit status 0, or 2 when DIR holds no run."""
    from ..reports import write_reports
    from .nopandas import without_pandas

    _folder(out_dir)  # a clear error before anything is written
    with without_pandas():
        path = write_reports(out_dir, title=title)
    click.echo(str(path))
