"""`plughost results DIR [--sort METRIC] [--json]`: the runs of an output folder, batch or single runs.

A batch's folder has a journal (DIR/.plughost/journal.sqlite): its rows are the truth (attempts, runs not
finished yet). Run folders without a journal row (`plughost run --out DIR`, which writes no journal) are
read from DIR/runs/*/summary.json and listed too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from .common import handle_errors

if TYPE_CHECKING:
    from ..batch.journal import Journal, RunRow

STATE_DIR = ".plughost"  # batch.journal.STATE_DIR, not imported so that the CLI starts fast

# Metrics where less is better: `--sort` puts the smallest first for these, the largest first otherwise.
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_abs", "avg_holding_ms", "duration_s"})


def _summary_row(run_dir: Path, index: int) -> RunRow | None:
    """A journal-like row from a run folder's summary.json; None when it has none (or a torn one)."""
    from ..batch.journal import RunRow

    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict):
        return None
    error = summary.get("error") if isinstance(summary.get("error"), dict) else None
    run_config: dict[str, Any] = summary["run_config"] if isinstance(summary.get("run_config"), dict) else {}
    started = summary.get("started_at")
    duration = summary.get("duration_s")
    finished = started + duration if isinstance(started, int | float) and isinstance(duration, int | float) else None
    return RunRow(
        id=str(summary.get("run_id") or run_dir.name), idx=index, origin="single run",
        spec={"config": summary.get("config")}, strategy=str(summary.get("strategy")),
        candles=str(run_config.get("candles", "")), status=str(summary.get("status")), attempts=1, error=error,
        error_code=error.get("code") if error else None, metrics=summary.get("metrics") or {},
        plugin_metrics=summary.get("plugin_metrics") or {}, started_at=started, finished_at=finished,
        duration_s=duration, start_cost_s=None, spawn_s=None, worker=None,
    )


def load_rows(out_dir: Path) -> tuple[list[RunRow], Journal | None]:
    """Every run in `out_dir`: the journal's rows first (if any), then run folders it does not know."""
    from ..batch.journal import Journal

    if (out_dir / "summary.json").is_file():  # DIR is one run's folder (OUT/runs/<run_id>)
        row = _summary_row(out_dir, 0)
        return ([row] if row is not None else []), None
    journal_path = out_dir / STATE_DIR / "journal.sqlite"
    journal = Journal(journal_path, readonly=True) if journal_path.is_file() else None
    rows = journal.rows() if journal is not None else []
    known = {r.id for r in rows}
    runs = out_dir / "runs"
    folders = sorted((p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.name) if runs.is_dir() else []
    for folder in folders:
        if folder.name not in known:
            row = _summary_row(folder, len(rows))
            if row is not None:
                rows.append(row)
    return rows, journal


def _metric(row: RunRow, name: str) -> float | None:
    value = row.duration_s if name == "duration_s" else (row.metrics or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def sort_rows(rows: list[RunRow], metric: str, *, reverse: bool = False) -> list[RunRow]:
    """Best first by `metric` (see LOWER_IS_BETTER), runs without a value last; `reverse` flips the order of
    the runs that have one. Raises UsageError for a metric no run has."""
    known = {k for r in rows for k in (r.metrics or {})} | {"duration_s"}
    if rows and metric not in known:
        raise UsageError(f"no run in this folder has a metric named '{metric}'",
                         hint=f"metrics: {', '.join(sorted(known))}")
    valued = [r for r in rows if _metric(r, metric) is not None]
    rest = [r for r in rows if _metric(r, metric) is None]
    descending = (metric not in LOWER_IS_BETTER) != reverse
    valued.sort(key=lambda r: (_metric(r, metric) or 0.0), reverse=descending)
    return valued + rest


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
