"""`plughost run --batch FILE`: load the batch, run it, print the summary table (or --json) on stdout."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import BatchFileError, PlughostError, UsageError
from ..executor.results import check_out_dir, format_number
from ..executor.runconfig import RUN_KEYS_IN_CONFIG
from ..plugins.config import entry_schema
from ..plugins.registry import Registry, resolve_roots
from ..safefile import dumps
from .batchhooks import BatchHooks
from .journal import RunRow
from .progress import BatchProgress
from .runner import BatchResult, run_batch
from .spec import BatchSpec, load_batch

SUMMARY_ROWS = 20


def check_plugins(batch: BatchSpec, registry: Registry) -> None:
    """Every strategy and feature a run names must exist and be enabled: a usage error before any work."""
    checked: dict[tuple[str, str], PlughostError | None] = {}
    for spec in batch.runs:
        wanted = [("strategy", spec.run.strategy, "strategy")] + [
            ("feature", f.name, "features") for f in spec.run.features]
        for kind, name, key in wanted:
            if (kind, name) not in checked:
                try:
                    registry.get_runnable(name, type=kind)
                    checked[(kind, name)] = None
                except PlughostError as exc:
                    checked[(kind, name)] = exc
            problem = checked[(kind, name)]
            if problem is not None:
                raise problem.evolve(message=f"{batch.path}: {spec.label()}, key '{key}': {problem.message}")


def check_grid_keys(batch: BatchSpec, registry: Registry) -> None:
    """A sweep's grid keys must be config keys of its strategy (or run keys such as fee_bps): a typo would
    otherwise fail every run of the sweep, or worse, be ignored by a lenient schema. Checked against the
    schema's `properties`, level by level for dotted keys, before any run starts (exit 2)."""
    checked: set[tuple[str, str, str]] = set()
    for spec in batch.runs:
        for key in spec.params:  # a sweep's grid point: its keys are the grid's
            sweep = spec.origin.split(" ", 1)[0]
            if (sweep, spec.run.strategy, key) in checked:
                continue
            checked.add((sweep, spec.run.strategy, key))
            schema = entry_schema(registry.get_runnable(spec.run.strategy, type="strategy"))
            if schema is None:
                continue  # no schema: nothing to check against
            node: Any = schema.schema
            for depth, part in enumerate(key.split(".")):
                props = node.get("properties") if isinstance(node, dict) else None
                if not isinstance(props, dict):
                    break  # a level the schema does not describe (or describes through $ref): not checked
                valid = sorted(props) + (sorted(RUN_KEYS_IN_CONFIG) if depth == 0 else [])
                if part not in valid:
                    close = difflib.get_close_matches(part, valid, n=1, cutoff=0.6)
                    raise BatchFileError(
                        f"{batch.path}: {sweep}, key 'grid.{key}': '{part}' is not a config key of strategy "
                        f"'{spec.run.strategy}'" + (f" (did you mean '{close[0]}'?)" if close else ""),
                        file=str(batch.path),
                        hint=f"grid keys name the strategy's config keys; valid here: {', '.join(valid)}")
                node = props.get(part)


def run_batch_command(
    batch_file: Path,
    *,
    out_dir: Path,
    workers: int | None,
    resume: bool,
    engine: str,
    address: str | None,
    plugins_dirs: tuple[Path, ...] | list[Path],
    as_json: bool,
    start_timeout: float | None,
    call_timeout: float | None,
    sandbox: bool = False,
    hooks: BatchHooks | None = None,
) -> int:
    """The `plughost run --batch` command. Returns the exit status (0 ok, 1 a run failed, 130 interrupted);
    raises `PlughostError` for bad input (exit 2), `BatchLocked` included. `hooks`: test faults only."""
    defaults: dict[str, Any] = {}
    if start_timeout is not None:
        defaults["start_timeout"] = start_timeout
    if call_timeout is not None:
        defaults["call_timeout"] = call_timeout
    if sandbox:
        defaults["sandbox"] = True
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1", hint="or leave it out: one worker per core")
    batch = load_batch(batch_file, cli_defaults=defaults)
    check_out_dir(out_dir)
    registry = Registry.discover(resolve_roots(list(plugins_dirs)) if plugins_dirs else None)
    check_plugins(batch, registry)
    check_grid_keys(batch, registry)
    progress = BatchProgress(label=batch_file.name)
    result = run_batch(batch, out_dir, registry=registry, engine_name=engine, workers=workers, resume=resume,
                       address=address, progress=progress, hooks=hooks)
    if as_json:
        click.echo(dumps([r.to_dict() for r in result.rows], indent=2))
    else:
        print_batch_summary(result)
    return result.exit_code


def runs_table(rows: list[RunRow], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for name, justify in (("run", "left"), ("status", "left"), ("att", "right"), ("trades", "right"),
                          ("return", "right"), ("max DD", "right"), ("sharpe", "right"), ("error", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        m = (r.metrics or {}) if r.status == "ok" else {}  # a run that failed part-way: its error, no partial figures
        colour = {"ok": "green", "failed": "red"}.get(r.status, "yellow")
        table.add_row(r.id, f"[{colour}]{r.status}[/]", str(r.attempts), format_number(m.get("num_trades"), "{:.0f}"),
                      format_number(m.get("return_pct"), "{:+.2f}%"), format_number(m.get("max_drawdown"), "{:.2f}%"),
                      format_number(m.get("sharpe"), "{:.2f}"), r.error_code or "")
    return table


def stdout_console() -> Console:
    """Tables on stdout; when it is not a terminal, wide enough that run ids are never cut."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def print_batch_summary(result: BatchResult) -> None:
    out = stdout_console()
    rows = result.rows
    ok = [r for r in rows if r.status == "ok"]
    failed = result.failed
    other = [r for r in rows if r.status not in ("ok", "failed")]
    ranked = sorted(ok, key=lambda r: -float((r.metrics or {}).get("return_pct") or 0.0))
    shown = ranked[:SUMMARY_ROWS] + failed[:SUMMARY_ROWS] + other[:SUMMARY_ROWS]
    title = "runs" if len(shown) == len(rows) else f"best {min(len(ranked), SUMMARY_ROWS)} runs, then failures"
    out.print(runs_table(shown, title))
    line = (f"[bold]{len(rows)} runs[/]: [green]{len(ok)} ok[/], [red]{len(failed)} failed[/]"
            + (f", [yellow]{len(other)} not finished[/]" if other else "")
            + (f" ({result.skipped} kept from before)" if result.skipped else "")
            + f" in {result.elapsed_s:.1f}s")
    out.print(line)
    if result.redone:
        out.print(f"[yellow]{len(result.redone)} torn run(s) redone[/]: {', '.join(result.redone)}")
    if result.report is not None:
        out.print(f"[dim]report:[/] {result.report}")
    out.print(f"[dim]results:[/] {result.out_dir / 'runs'}   [dim]list them:[/] plughost results {result.out_dir}")
    if result.interrupted:
        print(f"interrupted; finish with: plughost run --batch ... --out {result.out_dir} --resume", file=sys.stderr)
