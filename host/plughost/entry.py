"""The `plughost` command's entry point: the CLI, with Ctrl-C at any moment (even while Python is still
importing the CLI's modules) ending in one line and exit status 130, never a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        try:
            sys.stderr.write("error [INTERRUPTED]: stopped by Ctrl-C\n"
                             "  -> a batch continues where it stopped with --resume\n")
            sys.stderr.flush()
        except BaseException:
            pass
        sys.exit(130)
