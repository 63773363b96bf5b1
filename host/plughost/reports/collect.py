"""Every run of a results folder as one typed record, from its files and (when there is one) the batch
journal: `runs/*/summary.json` says what a run did; the journal adds the runs not finished yet, their
order in the batch, attempts and the sweep grid point each run came from.

    folder = collect_runs(Path("plughost-out"))      # ResultsFolder: runs, base_dir, param_keys
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..batch.journal import JOURNAL_NAME, STATE_DIR, Journal, RunRow
from ..errors import UsageError

# Ordered as people scan them; any other numeric metric in a summary follows these.
METRIC_ORDER = (
    "num_trades", "total_pnl", "return_pct", "buy_and_hold_return_pct", "cagr", "win_rate", "profit_factor",
    "max_drawdown", "sharpe", "sortino", "calmar", "exposure", "avg_trade_pnl", "best_trade", "worst_trade",
    "final_equity", "max_drawdown_abs", "avg_holding_ms",
)
# Ranking puts the best first: the largest value, except for these, where less is better.
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_abs"})


@dataclass
class RunRecord:
    """One run as the reports and `plughost results` show it."""

    run_id: str
    status: str                          # ok, failed, or (batch journal only) pending/running/retrying/interrupted
    strategy: str
    candles: str                         # as written in the run config
    config: dict[str, Any]
    params: dict[str, Any]               # sweep grid point (dotted config keys), or the config values that vary
    metrics: dict[str, Any] | None       # None unless the run is ok: a failed run shows no partial metrics
    plugin_metrics: dict[str, Any]
    error: dict[str, Any] | None
    warnings: list[dict[str, Any]]
    attempts: int | None                 # batch runs only
    duration_s: float | None
    origin: str | None                   # where a batch run came from ("sweeps[0] #3 (...)")
    index: int                           # order in the overview
    summary: dict[str, Any] | None       # the whole summary.json, None when the run has no files yet
    run_dir: Path

    @property
    def has_files(self) -> bool:
        return self.summary is not None

    def metric(self, name: str) -> float | None:
        value = (self.metrics or {}).get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "index": self.index, "origin": self.origin, "status": self.status,
            "strategy": self.strategy, "candles": self.candles, "config": self.config, "params": self.params,
            "attempts": self.attempts, "error": self.error, "metrics": self.metrics,
            "plugin_metrics": self.plugin_metrics, "duration_s": self.duration_s, "run_dir": str(self.run_dir),
        }


@dataclass
class ResultsFolder:
    out_dir: Path
    runs: list[RunRecord]
    base_dirs: list[Path]               # where a run's relative candle path is looked up, in order
    param_keys: list[str] = field(default_factory=list)
    journal_rows: dict[str, RunRow] = field(default_factory=dict)

    def metric_names(self) -> list[str]:
        """Every numeric metric some ok run has, in METRIC_ORDER first, then by name."""
        found = {k for r in self.runs for k, v in (r.metrics or {}).items()
                 if v is None or (isinstance(v, int | float) and not isinstance(v, bool))}
        known = [m for m in METRIC_ORDER if m in found]
        return known + sorted(found - set(known))

    def ranked(self, metric: str) -> list[RunRecord]:
        """Best first by `metric` (see LOWER_IS_BETTER); runs without a value (failed ones too) last."""
        sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
        with_value = [r for r in self.runs if r.metric(metric) is not None]
        without = [r for r in self.runs if r.metric(metric) is None]
        return sorted(with_value, key=lambda r: (sign * (r.metric(metric) or 0.0), r.index)) + without


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the dotted keys a sweep's grid uses."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _varying_keys(runs: list[RunRecord]) -> list[str]:
    """Config keys whose value differs between runs: the parameters of a folder without sweep records."""
    flat = [flatten(r.config) for r in runs]
    keys: list[str] = []
    for key in dict.fromkeys(k for f in flat for k in f):
        values = {json.dumps(f.get(key), sort_keys=True, default=str) for f in flat}
        if len(values) > 1:
            keys.append(key)
    return keys


def _record(run_id: str, index: int, run_dir: Path, summary: dict[str, Any] | None, row: RunRow | None) -> RunRecord:
    s = summary or {}
    run_config: dict[str, Any] = s["run_config"] if isinstance(s.get("run_config"), dict) else {}
    status = row.status if row is not None else str(s.get("status") or "unknown")
    if row is not None and summary is not None and row.status in ("ok", "failed"):
        status = str(s.get("status") or row.status)
    unfinished = row is not None and row.status not in ("ok", "failed")  # its files, if any, are an older attempt's
    error = row.error if row is not None and (summary is None or unfinished) else s.get("error")
    metrics = s.get("metrics") if summary is not None else (row.metrics if row is not None else None)
    config = s.get("config") if isinstance(s.get("config"), dict) else (row.spec.get("config") if row else None)
    return RunRecord(
        run_id=run_id, status=status,
        strategy=str(s.get("strategy") or (row.strategy if row else "") or ""),
        candles=str(run_config.get("candles") or (row.candles if row else "") or ""),
        config=dict(config or {}), params=dict(row.params or {}) if row is not None else {},
        metrics=dict(metrics) if status == "ok" and isinstance(metrics, dict) else None,
        plugin_metrics=dict(s.get("plugin_metrics") or (row.plugin_metrics if row else None) or {}),
        error=error if isinstance(error, dict) and status != "ok" else None,
        warnings=[w for w in (s.get("warnings") or []) if isinstance(w, dict)],
        attempts=row.attempts if row is not None else None,
        duration_s=s.get("duration_s") if summary is not None else (row.duration_s if row else None),
        origin=row.origin if row is not None else None, index=index, summary=summary, run_dir=run_dir,
    )


def collect_runs(out_dir: Path, *, base_dir: Path | None = None, journal: Journal | None = None) -> ResultsFolder:
    """Read a results folder. Raises `UsageError` (exit 2) when it holds no run at all.

    `journal`: an open journal to read (the batch runner's own); else DIR's journal is opened read-only
    when it exists. `base_dir`: where the runs' relative paths were resolved (a batch file's folder, or
    the current folder of a single run); the journal's batch folder, the current folder and DIR's parent
    are tried after it."""
    runs_dir = out_dir / "runs"
    rows: list[RunRow] = []
    meta: dict[str, Any] = {}
    journal_path = out_dir / STATE_DIR / JOURNAL_NAME
    if journal is not None:
        rows, meta = journal.rows(), journal.meta()
    elif journal_path.is_file():
        opened = Journal(journal_path, readonly=True)
        try:
            rows, meta = opened.rows(), opened.meta()
        finally:
            opened.close()
    by_id = {r.id: r for r in rows}
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if runs_dir.is_dir() else []
    summaries = {p.name: s for p in folders if (s := _read_summary(p)) is not None}
    records = [_record(r.id, n, runs_dir / r.id, summaries.get(r.id), r) for n, r in enumerate(rows)]
    # runs in the folder the journal does not know: single runs written into the same --out
    extra = sorted((i for i in summaries if i not in by_id),
                   key=lambda i: (float(summaries[i].get("started_at") or 0.0), i))
    records += [_record(i, len(records) + n, runs_dir / i, summaries[i], None) for n, i in enumerate(extra)]
    if not records:
        raise UsageError(f"{out_dir} holds no runs (no {runs_dir}/<run_id>/summary.json and no batch journal)",
                         hint="pass the --out folder of a `plughost run` or `plughost run --batch`")
    bases = [base_dir] if base_dir is not None else []
    if meta.get("base_dir"):
        bases.append(Path(str(meta["base_dir"])))
    elif meta.get("batch_file"):
        bases.append(Path(str(meta["batch_file"])).resolve().parent)
    bases += [Path.cwd(), out_dir.resolve().parent]
    swept = [k for r in records for k in r.params]
    param_keys = list(dict.fromkeys(swept)) if swept else _varying_keys(records)
    for r in records:  # a listed run beside a sweep shows its own values of the swept keys
        flat = flatten(r.config)
        r.params = {k: r.params[k] if k in r.params else flat[k] for k in param_keys if k in r.params or k in flat}
    return ResultsFolder(out_dir, records, list(dict.fromkeys(bases)), param_keys, by_id)
