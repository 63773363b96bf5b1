"""`plughost results DIR [--sort METRIC] [--json]`: the runs of an output folder, batch or single runs
(read by batch/listing.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .common import handle_errors

STATE_DIR = ".plughost"  # batch.journal.STATE_DIR, not imported so that the CLI starts fast


@click.command("results")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--sort", "sort_by", metavar="METRIC",
              help="Order the runs by this metric, best first (highest; lowest for max_drawdown), "
                   "runs without it last. E.g. sharpe, return_pct, num_trades.")
@click.option("--reverse", is_flag=True, help="With --sort: worst first.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
@click.option("--status", type=click.Choice(["ok", "failed", "unfinished"]), help="Only runs in this state.")
@handle_errors
def results(out_dir: Path, sort_by: str | None, reverse: bool, as_json: bool, status: str | None) -> None:
    """List the runs in an output folder: a batch's (from its journal, DIR/.plughost/journal.sqlite) and
    single runs (`plughost run --out DIR`, from DIR/runs/*/summary.json; DIR may also be one run's folder):
    status, attempts, metrics and error code. Exit status 0, or 2 when DIR holds no runs.

    \b
    Examples:
      plughost results plughost-out
      plughost results sweep-out --sort sharpe
      plughost results sweep-out --status failed --json
    """
    from ..batch.listing import load_rows, sort_rows  # the batch modules load pyarrow: only when run

    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder", hint="pass the --out folder of a `plughost run`")
    rows, journal = load_rows(out_dir)
    try:
        if not rows and journal is None:
            raise UsageError(f"{out_dir} holds no runs (no {STATE_DIR}/journal.sqlite, no runs/*/summary.json)",
                             hint="pass the --out folder of a `plughost run` or `plughost run --batch`")
        if status == "unfinished":
            rows = [r for r in rows if r.status not in ("ok", "failed")]
        elif status:
            rows = [r for r in rows if r.status == status]
        if sort_by:
            rows = sort_rows(rows, sort_by, reverse=reverse)
        if as_json:
            out: list[dict[str, Any]] = []
            for r in rows:
                d = r.to_dict()
                in_journal = journal is not None and r.origin != "single run"
                d["attempt_log"] = journal.attempts(r.id) if journal is not None and in_journal else []
                d["run_dir"] = str(out_dir if (out_dir / "summary.json").is_file() else out_dir / "runs" / r.id)
                out.append(d)
            click.echo(json.dumps(out, indent=2, default=str))
            return
    finally:
        if journal is not None:
            journal.close()
    from ..batch.cli import runs_table, stdout_console

    console = stdout_console()
    order = f", by {sort_by}" if sort_by else ""
    console.print(runs_table(rows, f"{len(rows)} runs in {out_dir}{order}"))
    report = out_dir / "report.html"
    if report.is_file():
        console.print(f"[dim]report:[/] {report}")
