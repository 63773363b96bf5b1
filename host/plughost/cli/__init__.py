"""The `plughost` command line. Answers go to stdout (`--json` for machines), progress and errors to
stderr. Exit status: 0 all good, 1 a run or validation failed, 2 usage or input error."""

from __future__ import annotations

import importlib
import logging

import click

from .._version import __version__
from ..transport.env import make_undumpable

# Each command's module is imported only when that command runs (or for `--help`, which lists them all):
# the modules pull pydantic, jsonschema, rich, psutil and pyarrow's compute/dataset, about 0.3 s of
# imports that `plughost run` must not pay for the commands it does not use (docs/performance.md).
_LAZY = {
    "run": ("run", "run"),
    "results": ("results", "results"),
    "report": ("results", "report"),
    "list-plugins": ("plugins", "list_plugins"),
    "validate-plugin": ("plugins", "validate_plugin_cmd"),
    "enable-plugin": ("plugins", "enable_plugin"),
    "disable-plugin": ("plugins", "disable_plugin"),
    "new-plugin": ("scaffold", "new_plugin"),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use (click's documented lazy-group pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LAZY:
            module, attr = _LAZY[cmd_name]
            command = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, imported (the CLI reference generator uses it)."""
        ctx = click.Context(self)
        for name in self.list_commands(ctx):
            self.get_command(ctx, name)
        return dict(self.commands)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="plughost")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v: plugin stderr lines, -vv: debug).")
def main(verbose: int) -> None:
    """plughost runs trading backtests whose strategies and features are plugins, each in its own
    process (Python or Node.js), so a crashing or hanging plugin never takes the host down.

    \b
    Quick start:
      plughost list-plugins                      # what is installed
      plughost run --strategy sma-cross --candles data/sample/BTCUSD-1m.parquet
      plughost run --batch examples/demo-batch.toml --out plughost-out
      plughost results plughost-out --sort sharpe   # open plughost-out/report.html for the charts
      plughost validate-plugin plugins/strategies/rsi-strategy
    """
    make_undumpable()  # before anything: a plugin of the same user must not read our environment
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
