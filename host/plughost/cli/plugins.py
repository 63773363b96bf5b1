"""Plugin commands: list-plugins, validate-plugin, enable-plugin, disable-plugin.

The main group registers them with `from plughost.cli.plugins import register; register(main)`.
Results go to stdout, errors to stderr. Exit status: 0 ok, 1 validation failed, 2 usage or input error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..plugins.manifest import Diagnostic
from ..plugins.registry import ENV_PLUGIN_PATH
from .common import complete_plugins, handle_errors, open_registry, plugins_dir_option


def _first_problem(diags: list[Diagnostic]) -> str:
    for d in diags:
        if d.is_error:
            where = f"{d.pointer} " if d.pointer else ""
            return f"{where}{d.message}"
    return ""


# ------------------------------------------------------------------------------------------ list-plugins


@click.command("list-plugins")
@click.option("--type", "type_", type=click.Choice(["strategy", "feature"]), help="Only this plugin type.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--examples/--no-examples", "with_examples", default=None,
              help="Also list the example plugins bundled with plughost (default: only when no --plugins-dir "
                   "or $PLUGHOST_PLUGIN_PATH is given).")
@plugins_dir_option
@handle_errors
def list_plugins(type_: str | None, as_json: bool, with_examples: bool | None, plugins_dirs: tuple[Path, ...]) -> None:
    """List the discovered plugins: name, type, language, version, enabled, valid.

    Broken plugins are listed too, with their first problem; `plughost validate-plugin NAME` shows all.
    The example plugins bundled with plughost are found by name when no plugin folder holds that name;
    they are listed after the others (`bundled: true` in --json).

    \b
    Examples:
      plughost list-plugins
      plughost list-plugins --type strategy --plugins-dir ./my-plugins
      plughost list-plugins --json | jq '.plugins[] | select(.valid | not)'
    """
    reg = open_registry(plugins_dirs)
    entries = reg.list(type_)
    if with_examples is None:
        with_examples = not plugins_dirs and not os.environ.get(ENV_PLUGIN_PATH)
    examples = [e for e in reg.examples() if type_ is None or e.type == type_] if with_examples else []
    if as_json:
        plugins = [e.to_dict() for e in entries] + [{**e.to_dict(), "bundled": True} for e in examples]
        click.echo(json.dumps({"roots": [str(r) for r in reg.roots], "plugins": plugins}, indent=2))
        return
    if not entries and not examples:
        where = ", ".join(str(r) for r in reg.roots)
        more = f" (and {len(reg.examples())} bundled examples: --examples lists them)" if reg.examples() else ""
        click.echo(f"no {type_ or 'plugin'}s found in {where}{more}", err=True)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 200
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("name", "type", "language", "version", "enabled", "valid", "problem"):
        table.add_column(col, no_wrap=col != "problem", overflow="fold")
    for e in entries + examples:
        table.add_row(
            Text(e.name),
            Text(e.type or "?"),
            Text(e.language or "?"),
            Text(e.version or "?"),
            Text("yes" if e.enabled else "no", style="" if e.enabled else "yellow"),
            Text("yes" if e.valid else "no", style="green" if e.valid else "red"),
            Text(_first_problem(e.diagnostics) or ("bundled example" if e in examples else "")),
        )
    console.print(table)


# ---------------------------------------------------------------------------------------- validate-plugin

_MARK = {"error": "x", "warning": "!", "info": "-"}


def _render_report(report: Any) -> str:
    name = report.plugin or report.target
    head = f"plugin '{name}' ({report.path})"
    errors, warnings = len(report.errors), sum(d.severity == "warning" for d in report.diagnostics)
    if report.ok:
        status = "valid" + (f" ({warnings} warning{'s' * (warnings != 1)})" if warnings else "")
    else:
        status = f"INVALID: {errors} error{'s' * (errors != 1)}" + (
            f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
        )
    lines = [f"{head}: {status}"]
    for d in report.diagnostics:
        where = d.file or ""
        if d.pointer is not None and d.file:
            where += f" {d.pointer or '/'}"
        code = f" {d.code}" if d.code else ""
        first, *rest = d.message.splitlines() or [""]
        lines.append(f"  {_MARK[d.severity]} {d.severity:<7} [{d.check}{code}] {first}")
        lines.extend(f"      {line}" for line in rest)
        if where:
            lines.append(f"      at {where}")
    lines.append(f"  checks run: {', '.join(report.checks)}")
    return "\n".join(lines)


@click.command("validate-plugin")
@click.argument("target", metavar="NAME|PATH", shell_complete=complete_plugins(paths=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@click.option("--no-trial", is_flag=True, help="Static checks only: do not start the plugin.")
@click.option(
    "--start-timeout",
    type=float,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Trial run: plugin start and handshake.",
)
@click.option(
    "--call-timeout", type=float, default=5.0, show_default=True, metavar="SECONDS", help="Trial run: any one request."
)
@plugins_dir_option
@handle_errors
def validate_plugin_cmd(
    target: str,
    as_json: bool,
    no_trial: bool,
    start_timeout: float,
    call_timeout: float,
    plugins_dirs: tuple[Path, ...],
) -> None:
    """Check one plugin, by name or folder, and report every problem found.

    Checks the manifest against protocol/plugin.schema.json, that entry/configSchema stay inside the
    plugin folder (nothing is started otherwise), dependencies, the config schema and its $refs (local
    only, never fetched), that the schema defaults form a valid config, the handshake and interface, and
    a trial run on 200 synthetic candles (a crash, hang or malformed signal is reported with its code).

    Exit status 0 when valid (warnings allowed), 1 when invalid, 2 when there is no such plugin.

    \b
    Examples:
      plughost validate-plugin sma-cross
      plughost validate-plugin ./plugins/strategies/sma-cross --json
      plughost validate-plugin my-strategy --plugins-dir ./dev-plugins --no-trial
    """
    from ..plugins.validator import validate_plugin

    reg = open_registry(plugins_dirs)
    report = validate_plugin(
        target,
        registry=reg,
        trial=not no_trial,
        start_timeout=start_timeout,
        call_timeout=call_timeout,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(_render_report(report))
    if not report.ok:
        sys.exit(1)


# ---------------------------------------------------------------------------------- enable / disable


def _set_state(name: str, plugins_dirs: tuple[Path, ...], enabled: bool) -> None:
    reg = open_registry(plugins_dirs)
    changed = reg.set_enabled(name, enabled)
    word = "enabled" if enabled else "disabled"
    click.echo(f"plugin '{name}' {word}" if changed else f"plugin '{name}' was already {word}")


@click.command("enable-plugin")
@click.argument("name", shell_complete=complete_plugins())
@plugins_dir_option
@handle_errors
def enable_plugin(name: str, plugins_dirs: tuple[Path, ...]) -> None:
    """Allow a disabled plugin to run again.

    The state is kept across invocations in $PLUGHOST_HOME/state.json (default ~/.plughost).

    \b
    Example:
      plughost enable-plugin sma-cross
    """
    _set_state(name, plugins_dirs, True)


@click.command("disable-plugin")
@click.argument("name", shell_complete=complete_plugins())
@plugins_dir_option
@handle_errors
def disable_plugin(name: str, plugins_dirs: tuple[Path, ...]) -> None:
    """Keep a plugin from being run (it stays listed and can still be validated).

    The state is kept across invocations in $PLUGHOST_HOME/state.json (default ~/.plughost);
    `plughost enable-plugin NAME` undoes it.

    \b
    Example:
      plughost disable-plugin sma-cross
    """
    _set_state(name, plugins_dirs, False)


COMMANDS = (list_plugins, validate_plugin_cmd, enable_plugin, disable_plugin)


def register(group: click.Group) -> None:
    """Add the plugin commands to the main `plughost` group."""
    for cmd in COMMANDS:
        group.add_command(cmd)
