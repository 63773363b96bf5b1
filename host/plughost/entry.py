"""The `plughost` command's entry point: the CLI, with Ctrl-C at any moment (even while Python is still
importing the CLI's modules) ending in one line and exit status 130, never a traceback (nor click's
"Aborted!" with status 1)."""

from __future__ import annotations

import sys


def _interrupted() -> None:
    try:
        sys.stderr.write("error [INTERRUPTED]: stopped by Ctrl-C\n"
                         "  -> a batch continues where it stopped with --resume\n")
        sys.stderr.flush()
    except BaseException:  # a second Ctrl-C while reporting the first: still 130
        pass
    sys.exit(130)


def main() -> None:
    try:
        import click

        from .cli import main as cli_main

        try:  # click's own standalone mode, except that an interruption is ours to report
            code = cli_main(standalone_mode=False)
        except click.exceptions.Abort:
            _interrupted()
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        _interrupted()
