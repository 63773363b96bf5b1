"""`python -m plughost_sdk`: the program the host starts for Python plugins, in one of two modes.

- the stdio runner (`_runner`): one plugin, named by PLUGHOST_PLUGIN_ENTRY, served on stdin/stdout;
- the fork server (`_forkserver`, warm starts): chosen when the host passes PLUGHOST_FORK_SERVER_FD, the
  descriptor of its socket. The variable is removed here, so the runners it forks never see it.

Each mode imports only its own modules: a cold runner does not pay for the fork server's imports.
"""

from __future__ import annotations

import os
import sys

from ._plugin import COOKIE, COOKIE_VAR

FORK_SERVER_VAR = "PLUGHOST_FORK_SERVER_FD"


def main() -> int:
    if os.environ.get(COOKIE_VAR) != COOKIE:
        print("This is the plughost plugin runner: plugins are started by `plughost run` "
              "(see `plughost --help`), not by hand.", file=sys.stderr)
        return 1
    fork_server_fd = os.environ.pop(FORK_SERVER_VAR, "")
    if fork_server_fd:
        from ._forkserver import main as fork_server

        return fork_server(int(fork_server_fd))
    from ._runner import main as run_plugin

    return run_plugin()


if __name__ == "__main__":
    raise SystemExit(main())
