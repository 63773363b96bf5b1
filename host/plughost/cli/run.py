"""`plughost run`: one backtest from flags, or many from a batch file."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import PlughostError, UnsafeOutput, UsageError, WarningCode
from ..safefile import dumps
from .common import complete_plugins, handle_errors, open_registry, plugins_dir_option
from .nopandas import without_pandas

if TYPE_CHECKING:
    from ..executor.engine import RunOutcome

MAX_TIMEOUT_S = 86_400.0  # as executor.runconfig (not imported here: it would slow every command's start)

RUN_HELP = """Run one backtest, or a batch of them.

\b
One run:
  plughost run --strategy sma-cross --candles data/sample/BTCUSD-1m.parquet
  plughost run --strategy rsi-strategy --candles prices.csv --config rsi.json --feature custom-metrics
  plughost run --strategy sma-cross --candles prices.csv --feature custom-metrics \\
               --feature-config custom-metrics=metrics.json

\b
The config file (JSON or TOML) holds the strategy's parameters; a few keys are the run's own:
  size (default 1.0), fee_bps (0), history (200), initial_capital (10000), batch_size (8192),
  indicators ({"sma_10": {"type": "sma", "period": 10}}; types sma, ema, rsi, atr),
  features (a list, as in a batch run: names or {name, config, priority, onError}).

\b
Many runs: plughost run --batch FILE [--workers N] [--resume] [--engine local|ray [--address ADDR]]
A batch file is TOML or JSON (paths relative to it; full reference in docs/batch.md):
  [batch]                      # optional: max_retries = 2, retry_errors = ["PLUGIN_ERROR"],
                               #   quarantine_after = 5, warm_starts = true
  [defaults]                   # optional: keys merged into every run, e.g. fee_bps = 5
  [[runs]]
  id = "baseline"              # optional; default <strategy>-<candles stem>-<content hash>
  strategy = "sma-cross"
  candles = "data/BTCUSD-1m.parquet"
  alerts = "data/alerts.jsonl"               # optional
  config = { fast = 10, slow = 30 }          # or a path to a JSON/TOML file
  features = ["custom-metrics", { name = "visualization", onError = "fail" }]
  start_timeout = 10                         # optional, also call_timeout
  [[sweeps]]                   # one run per candle file x grid point
  strategy = "sma-cross"
  candles = "data/*.parquet"   # a path, a glob, or a list of them
  config = { fee_bps = 5 }
  grid = { fast = [5, 10, 20], slow = [30, 60] }   # dotted keys reach nested config values
A killed or interrupted batch continues with --resume (finished runs are kept, each run runs once);
`plughost results OUT` lists the runs. Exit status 130 after Ctrl-C.

\b
Results: OUT/runs/<run_id>/summary.json, trades.parquet, equity.parquet, chart.parquet (the page's price bars)
and report.html (the run's page);
OUT/report.html is the overview of every run in OUT (`plughost report OUT` rewrites them).
Exit status: 0 ok, 1 the run failed (the error is in summary.json too), 2 bad input.
"""


@click.command("run", help=RUN_HELP)
@click.option("--strategy", metavar="NAME", shell_complete=complete_plugins("strategy"),
              help="Strategy plugin to run (see `plughost list-plugins`).")
@click.option("--candles", metavar="PATH", help="Candle file: Parquet, Arrow IPC (.arrow/.feather) or CSV.")
@click.option("--alerts", metavar="PATH", help="Alert file: Parquet, CSV, JSON or JSON Lines.")
@click.option("--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Strategy config (JSON or TOML), plus the run keys listed above.")
@click.option("--feature", "features", multiple=True, metavar="NAME", shell_complete=complete_plugins("feature"),
              help="Feature plugin to attach. Repeatable.")
@click.option("--feature-config", "feature_configs", multiple=True, metavar="NAME=FILE",
              help="Config (JSON or TOML) of an attached feature. Repeatable.")
@click.option("--out", "out_dir", default="plughost-out", show_default=True, type=click.Path(path_type=Path),
              help="Output folder.")
@click.option("--batch", "batch_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Run every run of a batch file (JSON or TOML) instead; see docs/batch.md.")
@click.option("--workers", type=int, default=None, help="Batch: parallel runs (default: number of cores).")
@click.option("--resume", is_flag=True, help="Batch: keep finished runs in OUT and run only the rest.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Batch: where runs execute.")
@click.option("--address", metavar="ADDR", help="Batch with --engine ray: the cluster address (else RAY_ADDRESS).")
@click.option("--start-timeout", type=float, default=None, metavar="SECONDS",
              help="Plugin start and handshake limit (default 10).")
@click.option("--call-timeout", type=float, default=None, metavar="SECONDS",
              help="Limit for any one plugin request: initialize, one batch, a hook (default 30).")
@click.option("--run-id", metavar="ID", help="Name of the run folder (default: strategy, time and a random suffix): "
              "letters, digits, '.', '_', '-' (up to 128); an existing run folder is refused, never replaced.")
@click.option("--sandbox", is_flag=True, help="Run each plugin in its own user, pid, network and mount namespaces: "
              "no network, no other processes, only its own folder and a private /tmp (see docs/reliability.md).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json (or the batch's runs) on stdout.")
@click.option("--watch", is_flag=True,  # hot reload: cli/watch.py
              help="Re-run whenever the plugins' files (TypeScript: the built entry) or the config change, "
                   "printing each new summary beside the previous one. Ctrl-C stops.")
@plugins_dir_option
@handle_errors
def run(
    strategy: str | None, candles: str | None, alerts: str | None, config_path: Path | None,
    features: tuple[str, ...], out_dir: Path, batch_file: Path | None, workers: int | None, resume: bool,
    engine: str, address: str | None, start_timeout: float | None, call_timeout: float | None,
    run_id: str | None, as_json: bool, plugins_dirs: tuple[Path, ...], watch: bool = False,
    feature_configs: tuple[str, ...] = (), sandbox: bool = False,
) -> None:
    if watch and batch_file is not None:  # --watch (cli/watch.py) is for one run
        raise UsageError("--watch re-runs one backtest; it cannot be combined with --batch",
                         hint="run one strategy: plughost run --strategy NAME --candles PATH --watch")
    for flag, value in (("--start-timeout", start_timeout), ("--call-timeout", call_timeout)):
        if value is not None and not 0 < value <= MAX_TIMEOUT_S:  # NaN fails both comparisons too
            raise UsageError(f"{flag} {value} is out of range: give seconds in (0, {MAX_TIMEOUT_S:,.0f}]",
                             hint="a plugin call that needs more than a day is a plugin that hangs")
    if batch_file is not None:
        from ..batch.cli import run_batch_command

        code = run_batch_command(batch_file, out_dir=out_dir, workers=workers, resume=resume, engine=engine,
                                 address=address, plugins_dirs=plugins_dirs, as_json=as_json,
                                 start_timeout=start_timeout, call_timeout=call_timeout, sandbox=sandbox)
        sys.exit(code)
    if not strategy or not candles:
        raise UsageError(_what_next(strategy, candles))
    # imported here, not at the top: pyarrow and the engine would slow every command's start (even --help)
    from ..executor.engine import run_backtest
    from ..executor.results import check_out_dir, check_run_id, disk_full_guard
    from ..executor.runconfig import RunConfig
    from ..plugins.config import load_config_file
    from .render import run_progress

    if run_id is not None:  # before anything is read or written: an id never leaves --out
        check_run_id(run_id)
    registry = open_registry(plugins_dirs)
    data: dict[str, Any] = {"strategy": strategy, "candles": candles, "alerts": alerts}
    if config_path is not None:
        data["config"] = load_config_file(config_path)
    data["features"] = _feature_entries(features, feature_configs, data.get("config") or {})
    if start_timeout is not None:
        data["start_timeout"] = start_timeout
    if call_timeout is not None:
        data["call_timeout"] = call_timeout
    if sandbox:
        data["sandbox"] = True
    run_config = RunConfig.parse(data, source=str(config_path or "the command line"))
    registry.get_runnable(strategy, type="strategy")  # a wrong name is a usage error, before any work
    run_id = run_id or f"{strategy}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    check_out_dir(out_dir)
    existing = out_dir / "runs" / run_id
    if existing.exists() or existing.is_symlink():  # a single run never deletes a published result
        raise UnsafeOutput(f"run folder {existing} already exists; plughost never replaces a run's results",
                           hint="pass another --run-id, leave it out (a fresh id is made), or delete the folder")
    if watch:  # --watch: re-run on every change (cli/watch.py)
        from .watch import watch_backtest

        sys.exit(watch_backtest(data, config_path=config_path, plugins_dirs=plugins_dirs, out_dir=out_dir,
                                run_id=run_id, as_json=as_json))
    with without_pandas(), run_progress(f"{strategy} on {Path(candles).name}") as advance, \
            disk_full_guard(out_dir, run_id):
        outcome = run_backtest(run_config, registry=registry, out_dir=out_dir, run_id=run_id,
                               base_dir=Path.cwd(), progress=advance)
    with without_pandas():
        _write_html(outcome, out_dir)
    _report(outcome, as_json)


def _write_html(outcome: RunOutcome, out_dir: Path) -> None:
    """The run's page and the folder's overview; a report that cannot be written costs a warning, not the run."""
    if outcome.run_dir is None:
        return
    from ..reports import write_reports
    from .render import console

    try:
        path = write_reports(out_dir, base_dir=Path.cwd(), only_stale=True)
    except (PlughostError, OSError) as exc:
        console(stderr=True).print(f"[yellow]warning[/] the HTML report was not written: {exc}", highlight=False)
        return
    console(stderr=True).print(f"[dim]report:[/] {path}  [dim]run page:[/] {outcome.run_dir / 'report.html'}",
                               highlight=False)


def _report(outcome: RunOutcome, as_json: bool) -> None:
    from .render import console, print_run_summary

    summary = outcome.summary
    if summary.get("symbol_from_file_stem") and summary.get("symbols"):
        console(stderr=True).print(f"[dim]note:[/] the candle file has no `symbol` column: its candles are "
                                   f"symbol {summary['symbols'][0]!r} (the file's name)", highlight=False)
    for warning in summary.get("warnings") or []:
        if warning.get("code") in (WarningCode.LIQUIDATED, WarningCode.LOOKAHEAD_SUSPECTED):
            console(stderr=True).print(f"[yellow]warning[/] {warning['code']}: {warning.get('message', '')}",
                                       highlight=False)
    if as_json:
        click.echo(dumps(json.loads((outcome.run_dir / "summary.json").read_text()) if outcome.run_dir
                         else outcome.summary, indent=2))
    elif outcome.error is None or outcome.summary.get("candles"):
        print_run_summary(outcome.summary, outcome.run_dir)  # a run that failed before any candle has no table
    if outcome.error is not None:
        console(stderr=True).print(f"[bold red]run failed[/] ({outcome.error.code})", highlight=False)
        click.echo(str(outcome.error), err=True)
        sys.exit(outcome.error.exit_status)  # 2 for bad input (config, data, manifest), 1 for a failed run


def _feature_entries(names: tuple[str, ...], configs: tuple[str, ...], config: dict[str, Any]) -> list[Any]:
    """--feature NAME... with their --feature-config NAME=FILE; a feature may also come from the config
    file's own `features` list (RunConfig.parse merges the two)."""
    from ..plugins.config import load_config_file

    entries: dict[str, dict[str, Any]] = {name: {"name": name} for name in names}
    listed = config.get("features")
    listed = listed if isinstance(listed, list) else []
    attached = set(entries) | {f if isinstance(f, str) else f.get("name") for f in listed if isinstance(f, str | dict)}
    for item in configs:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise UsageError(f"--feature-config takes NAME=FILE, got {item!r}",
                             hint="e.g. --feature custom-metrics --feature-config custom-metrics=metrics.json")
        if name not in attached:
            raise UsageError(
                f"--feature-config names feature '{name}', which this run does not attach"
                + (f" (attached: {', '.join(sorted(str(a) for a in attached))})" if attached else ""),
                hint=f"add --feature {name}, or list it under `features` in the --config file")
        entry = entries.setdefault(name, {"name": name})
        entry["config"] = {**entry.get("config", {}), **load_config_file(file, plugin=name)}
    return list(entries.values())


def _what_next(strategy: str | None, candles: str | None) -> str:
    missing = " and ".join(f"--{n}" for n, v in (("strategy", strategy), ("candles", candles)) if not v)
    return (
        f"plughost run needs {missing} (or --batch FILE).\n"
        "  Try the bundled demo:   plughost run --strategy sma-cross --candles data/sample/BTCUSD-1m.parquet\n"
        "  See the strategies:     plughost list-plugins --type strategy\n"
        "  Or a whole batch:       plughost run --batch examples/demo-batch.toml\n"
        "  Every option:           plughost run --help"
    )


__all__ = ["PlughostError", "run"]
