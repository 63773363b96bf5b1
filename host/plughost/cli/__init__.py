"""The `plughost` command line. Answers go to stdout (`--json` for machines), progress and errors to
stderr. Exit status: 0 all good, 1 a run or validation failed, 2 usage or input error."""

from __future__ import annotations

import logging

import click

from .._version import __version__
from ..transport.env import make_undumpable


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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


def _register() -> None:
    from .plugins import register as register_plugins
    from .run import run
    from .scaffold import new_plugin

    main.add_command(run)
    for command in _results_commands():
        main.add_command(command)
    register_plugins(main)
    main.add_command(new_plugin)


def _results_commands() -> list[click.Command]:
    from .results import report, results

    return [results, report]


_register()
