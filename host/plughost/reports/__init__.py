"""Reports of a results folder: `DIR/report.html` (every run, ranked, grid parameters as columns, a
heatmap, failures) and `DIR/runs/<run_id>/report.html` (price with trades, equity, drawdown, trades,
metrics, config). See docs/batch.md, "Reports"."""

from .collect import LOWER_IS_BETTER, ResultsFolder, RunRecord, collect_runs
from .pages import write_reports

__all__ = ["LOWER_IS_BETTER", "ResultsFolder", "RunRecord", "collect_runs", "write_reports"]
