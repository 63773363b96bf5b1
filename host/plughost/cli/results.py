"""`plughost results DIR [--json]`: the runs of a batch output folder, from its journal."""

from __future__ import annotations

from pathlib import Path

import click

from ..batch.cli import runs_table, stdout_console
from ..batch.journal import STATE_DIR, Journal
from ..errors import UsageError
from ..safefile import dumps
from .common import handle_errors


@click.command("results")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
@click.option("--status", type=click.Choice(["ok", "failed", "unfinished"]), help="Only runs in this state.")
@handle_errors
def results(out_dir: Path, as_json: bool, status: str | None) -> None:
    """List the runs of a batch output folder (from DIR/.plughost/journal.sqlite): status, attempts,
    metrics and error code. Exit status 0, or 2 when DIR holds no batch journal."""
    path = out_dir / STATE_DIR / "journal.sqlite"
    if not path.is_file():
        raise UsageError(f"{out_dir} holds no batch journal ({path} is missing)",
                         hint="pass the --out folder of a `plughost run --batch`")
    journal = Journal(path, readonly=True)
    try:
        rows = journal.rows()
        if status == "unfinished":
            rows = [r for r in rows if r.status not in ("ok", "failed")]
        elif status:
            rows = [r for r in rows if r.status == status]
        if as_json:
            out = []
            for r in rows:
                d = r.to_dict()
                d["attempt_log"] = journal.attempts(r.id)
                d["run_dir"] = str(out_dir / "runs" / r.id)
                out.append(d)
            click.echo(dumps(out, indent=2))
            return
    finally:
        journal.close()
    console = stdout_console()
    console.print(runs_table(rows, f"{len(rows)} runs in {out_dir}"))
    report = out_dir / "report.html"
    if report.is_file():
        console.print(f"[dim]report:[/] {report}")
