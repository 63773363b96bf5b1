"""The runs of an output folder, batch or single runs, as journal-like rows (`plughost results`,
`plughost.BatchResult.load`).

A batch's folder has a journal (DIR/.plughost/journal.sqlite): its rows are the truth (attempts, runs not
finished yet). Run folders without a journal row (`plughost run --out DIR`, which writes no journal) are
read from DIR/runs/*/summary.json and listed too; DIR may also be one run's own folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .journal import STATE_DIR, Journal, RunRow

# Metrics where less is better: `--sort` puts the smallest first for these, the largest first otherwise.
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_abs", "avg_holding_ms", "duration_s"})


def _summary_row(run_dir: Path, index: int) -> RunRow | None:
    """A journal-like row from a run folder's summary.json; None when it has none (or a torn one)."""
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
