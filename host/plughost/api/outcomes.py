"""What the Python API returns: `Result` (one run), `RunError` (a failed run's error) and `BatchResult`
(a batch's runs, each `Result` loaded on demand). Records only: they read result folders, never run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UsageError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RunError:
    """A failed run's error as recorded in summary.json: the contract's code, the message, the plugin at
    fault (None when it is not a plugin's), and the other recorded fields (hint, stderr tail, ...)."""

    code: str
    message: str
    plugin: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunError:
        rest = {k: v for k, v in data.items() if k not in ("code", "message", "plugin")}
        return cls(str(data.get("code")), str(data.get("message")), data.get("plugin"), rest)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass(frozen=True, repr=False)
class Result:
    """One backtest's results: `summary.json` as a dict, trades and equity as Arrow tables."""

    run_id: str
    status: str
    summary: dict[str, Any]
    trades: pa.Table
    equity: pa.Table
    error: RunError | None = None
    run_dir: Path | None = None  # None when the results were kept in memory (out=None)
    artifacts: Mapping[str, bytes] = field(default_factory=dict)  # "<feature>/<file name>" -> content

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.summary.get("metrics") or {})

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.summary.get("config") or {})

    def __repr__(self) -> str:
        m = self.metrics
        about = f"error={self.error}" if self.error else (
            f"trades={m.get('num_trades')}, return_pct={m.get('return_pct')}, sharpe={m.get('sharpe')}")
        return f"<Result {self.run_id} {self.status}: {about}>"

    def _repr_html_(self) -> str:
        """Jupyter's view: the status, the error or the main metrics, in a small table."""
        from html import escape

        from ..executor.results import format_number

        rows = [("status", self.status)]
        if self.error is not None:
            rows += [("error", str(self.error)), ("plugin", self.error.plugin or "")]
        m = self.metrics
        for key, pattern in (("num_trades", "{:.0f}"), ("return_pct", "{:+.2f}%"), ("max_drawdown", "{:.2f}%"),
                             ("sharpe", "{:.2f}"), ("win_rate", "{:.1%}")):
            if key in m:
                rows.append((key, format_number(m.get(key), pattern)))
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
                       for k, v in rows)
        return f"<b>plughost.Result</b> <code>{escape(self.run_id)}</code><table>{body}</table>"

    @classmethod
    def load(cls, run_dir: PathLike, *, keep_path: bool = True) -> Result:
        """Read a run folder (`OUT/runs/<run_id>/`). Whatever columns trades.parquet has are kept."""
        folder = Path(run_dir)
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            trades = pq.read_table(folder / "trades.parquet")
            equity = pq.read_table(folder / "equity.parquet")
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise UsageError(f"{folder} is not a complete run folder: {exc}",
                             hint="pass OUT/runs/<run_id> of a finished run") from None
        artifacts: dict[str, bytes] = {}
        art = folder / "artifacts"
        if art.is_dir():
            for path in sorted(p for p in art.rglob("*") if p.is_file()):
                artifacts[path.relative_to(art).as_posix()] = path.read_bytes()
        error = summary.get("error")
        return cls(str(summary.get("run_id", folder.name)), str(summary.get("status")), summary, trades, equity,
                   RunError.from_dict(error) if isinstance(error, dict) else None,
                   folder if keep_path else None, artifacts)




@dataclass(repr=False)
class BatchResult:
    """A batch's outcome: every run's status and metrics, each run's `Result` loaded on demand."""

    out_dir: Path
    rows: list[dict[str, Any]]  # run_id, status, attempts, error, metrics, params, ... (`plughost results --json`)
    interrupted: bool = False
    _cache: dict[str, Result] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        path = self.out_dir / "report.html"
        return path if path.is_file() else None

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "ok" if all(r.get("status") == "ok" for r in self.rows) else "failed"

    @property
    def ids(self) -> list[str]:
        return [str(r["run_id"]) for r in self.rows]

    @property
    def ok(self) -> list[str]:
        return [str(r["run_id"]) for r in self.rows if r.get("status") == "ok"]

    @property
    def failed(self) -> list[str]:
        return [str(r["run_id"]) for r in self.rows if r.get("status") == "failed"]

    @property
    def runs(self) -> pa.Table:
        """One row a run: run_id, status, error_code, the grid parameters (`param.<key>`), then every metric."""
        metric_names: list[str] = []
        param_names: list[str] = []
        for r in self.rows:
            metric_names += [k for k in (r.get("metrics") or {}) if k not in metric_names]
            param_names += [k for k in (r.get("params") or {}) if k not in param_names]
        columns: dict[str, list[Any]] = {
            "run_id": self.ids, "status": [r.get("status") for r in self.rows],
            "error_code": [(r.get("error") or {}).get("code") for r in self.rows]}
        for name in param_names:
            values = [(r.get("params") or {}).get(name) for r in self.rows]
            try:
                columns[f"param.{name}"] = pa.array(values)
            except (pa.ArrowException, TypeError, ValueError):  # mixed types: shown as text
                columns[f"param.{name}"] = [None if v is None else json.dumps(v) for v in values]
        for name in metric_names:
            values = [(r.get("metrics") or {}).get(name) for r in self.rows]
            columns[name] = [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
                             for v in values]
        return pa.table(columns)

    @classmethod
    def load(cls, out: PathLike) -> BatchResult:
        """The runs already in an output folder (a batch's, or single runs'), as `plughost results` lists them."""
        folder = Path(out).expanduser().absolute()
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a folder", hint="pass the --out folder of a `plughost run`")
        return cls(folder, rows_of(folder))

    def result(self, run_id: str) -> Result:
        if run_id not in self._cache:
            if run_id not in self.ids:
                raise UsageError(f"no run {run_id!r} in this batch", hint="BatchResult.ids lists them")
            self._cache[run_id] = Result.load(self.out_dir / "runs" / run_id)
        return self._cache[run_id]

    def __getitem__(self, run_id: str) -> Result:
        return self.result(run_id)

    def __iter__(self) -> Iterator[Result]:
        return (self.result(i) for i in self.ids if (self.out_dir / "runs" / i / "summary.json").is_file())

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"<BatchResult {self.out_dir}: {len(self.ok)} ok, {len(self.failed)} failed of {len(self.rows)}>"


def rows_of(out_dir: Path) -> list[dict[str, Any]]:
    from ..reports import collect_runs

    return [r.to_dict() for r in collect_runs(out_dir).runs]
