"""`plughost run ... --watch`: hot reload for plugin authors.

Runs the backtest, then polls the modification times of the files that make up its plugins and re-runs it
(each run starts fresh plugin processes, so edited code is loaded) whenever one changes. A Python plugin is
watched as its whole folder; a TypeScript/JavaScript plugin as its built entry's folder (`dist/`) plus its
manifest and config schema, so keep `npm run watch` (tsc --watch) running beside it. The `--config` file
and the data files are watched too. Each new summary is printed beside the previous successful one, with
the changed metrics highlighted. Polling only: no extra dependency, works on every file system.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.table import Table

from ..errors import PlughostError
from ..executor.engine import RunOutcome, run_backtest
from ..executor.results import format_number
from ..executor.runconfig import RunConfig
from ..plugins.config import load_config_file
from ..plugins.registry import PluginEntry, Registry
from .common import open_registry
from .render import _METRIC_ROWS, console, print_run_summary

Snapshot = dict[Path, tuple[int, int] | None]
_SKIP_DIRS = {"node_modules", "__pycache__"}


def _walk(folder: Path) -> Iterator[Path]:
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child.name.startswith(".") or child.name in _SKIP_DIRS:
            continue
        if child.is_dir():
            yield from _walk(child)
        elif child.is_file() and child.suffix not in (".pyc", ".map"):
            yield child


def plugin_files(entry: PluginEntry) -> list[Path]:
    """The files whose change should re-run a backtest using this plugin."""
    manifest = entry.manifest
    files = [entry.manifest_path]
    if manifest is None:
        return files
    if manifest.language == "python":
        return [*files, *_walk(entry.path)]
    built = entry.entry_path or (entry.path / manifest.entry)
    files.append(built)  # watched even while missing: its appearance (a first build) is a change
    if built.parent.resolve() != entry.path.resolve():
        files.extend(_walk(built.parent))
    else:
        files.extend(p for p in _walk(entry.path) if p.suffix in (".js", ".mjs", ".cjs", ".json"))
    if entry.config_schema_path is not None:
        files.append(entry.config_schema_path)
    files.extend(_walk(entry.path / "configs"))
    return files


def watched_files(registry: Registry, names: Iterable[str], extra: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for name in names:
        for entry in registry.find_all(name):
            out.extend(plugin_files(entry))
    out.extend(extra)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def snapshot(paths: Iterable[Path]) -> Snapshot:
    out: Snapshot = {}
    for p in paths:
        try:
            st = p.stat()
            out[p] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[p] = None
    return out


def changed(before: Snapshot, after: Snapshot) -> list[Path]:
    return [p for p in sorted(set(before) | set(after)) if before.get(p) != after.get(p)]


def wait_for_change(
    files: Callable[[], list[Path]], interval: float, base: Snapshot | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Path]:
    """Block until a watched file differs from `base` (default: now), then until it settles for one
    interval (an editor or tsc writing several files is one change). Returns the changed paths."""
    base = snapshot(files()) if base is None else base
    while True:
        sleep(interval)
        now = snapshot(files())
        diff = changed(base, now)
        if not diff:
            continue
        while True:  # debounce
            sleep(interval)
            later = snapshot(files())
            more = changed(now, later)
            if not more:
                return sorted(set(diff))
            diff += more
            now = later


def comparison_table(previous: dict[str, Any], current: dict[str, Any]) -> Table:
    """The new summary beside the previous one; rows whose value changed are highlighted."""
    status = current.get("status")
    colour = "green" if status == "ok" else "red"
    table = Table(title=f"{current.get('strategy')} [{colour}]{status}[/]  ({current.get('run_id')})",
                  title_justify="left", box=None, pad_edge=False, header_style="dim")
    table.add_column("")
    table.add_column(f"previous ({previous.get('run_id')})", justify="right", style="dim")
    table.add_column("now", justify="right")
    table.add_column("change", justify="right")
    rows: list[tuple[str, Any, Any, str]] = []
    before, after = previous.get("metrics") or {}, current.get("metrics") or {}
    for key, label, pattern in _METRIC_ROWS:
        rows.append((label, before.get(key), after.get(key), pattern))
    rows.append(("ignored signals", previous.get("ignored_signals"), current.get("ignored_signals"), "{:.0f}"))
    rows.append(("rejected signals", previous.get("rejected_signals"), current.get("rejected_signals"), "{:.0f}"))
    names = dict.fromkeys([*(previous.get("plugin_metrics") or {}), *(current.get("plugin_metrics") or {})])
    for plugin in names:
        old = (previous.get("plugin_metrics") or {}).get(plugin) or {}
        new = (current.get("plugin_metrics") or {}).get(plugin) or {}
        for name in dict.fromkeys([*old, *new]):
            rows.append((f"{plugin}: {name}", old.get(name), new.get(name), "{:,.4g}"))
    for label, old_value, new_value, pattern in rows:
        old_text, new_text = format_number(old_value, pattern), format_number(new_value, pattern)
        if old_text == new_text:
            table.add_row(label, old_text, new_text, "")
            continue
        delta = ""
        if isinstance(old_value, int | float) and isinstance(new_value, int | float):
            signed = pattern if "{:+" in pattern else pattern.replace("{:", "{:+", 1)
            delta = format_number(new_value - old_value, signed)
        table.add_row(f"[bold]{label}[/]", old_text, f"[bold yellow]{new_text}[/]", f"[yellow]{delta}[/]")
    return table


def _show(outcome: RunOutcome, previous: dict[str, Any] | None, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.summary))
    elif previous is None:
        print_run_summary(outcome.summary, outcome.run_dir)
    else:
        out = console()
        out.print(comparison_table(previous, outcome.summary))
        if outcome.run_dir is not None:
            out.print(f"[dim]results:[/] {outcome.run_dir}")
    sys.stdout.flush()
    if outcome.error is not None:
        err = console(stderr=True)
        err.print(f"[bold red]run failed[/] ({outcome.error.code})", highlight=False)
        click.echo(str(outcome.error), err=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def watch_backtest(
    data: dict[str, Any],
    *,
    config_path: Path | None,
    plugins_dirs: tuple[Path, ...],
    out_dir: Path,
    run_id: str,
    as_json: bool = False,
    interval: float = 0.5,
) -> int:
    """Run, then re-run on every change until Ctrl-C (or SIGTERM). Returns the exit status (0)."""
    previous_handler = signal.signal(signal.SIGTERM, _stop)
    strategy = str(data["strategy"])
    names = [strategy, *(str(f) for f in data.get("features") or ())]
    extra = [Path(p) for p in (config_path, data.get("candles"), data.get("alerts")) if p]
    last_ok: dict[str, Any] | None = None
    err = console(stderr=True)
    count = 0
    try:
        while True:
            count += 1
            registry = open_registry(plugins_dirs)
            # taken before the run, so that a file saved while it runs triggers the next one
            before = snapshot(watched_files(registry, names, extra))
            try:
                run_data = dict(data)
                if config_path is not None:
                    run_data["config"] = load_config_file(config_path)
                run_config = RunConfig.parse(run_data, source=str(config_path or "the command line"))
                registry.get_runnable(strategy, type="strategy")
                outcome = run_backtest(run_config, registry=registry, out_dir=out_dir,
                                       run_id=run_id if count == 1 else f"{run_id}-{count}", base_dir=Path.cwd())
                _show(outcome, last_ok, as_json)
                if outcome.status == "ok":
                    last_ok = outcome.summary
            except PlughostError as exc:
                click.echo(f"error [{exc.code}]: {exc}", err=True)
            err.print(f"[dim]watching {len(before)} files of {', '.join(names)} for changes "
                      "(Ctrl-C to stop)[/]", highlight=False)
            sys.stderr.flush()
            paths = wait_for_change(functools.partial(watched_files, registry, names, extra), interval, before)
            shown = ", ".join(_short(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            err.print(f"[cyan]changed:[/] {shown}; re-running", highlight=False)
    except KeyboardInterrupt:
        # Plain echo, not the rich console: an interrupt in the middle of a rich print can leave that
        # console buffering, and the message would never appear.
        click.echo("stopped watching", err=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
