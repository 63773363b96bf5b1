"""Write docs/cli.md, the CLI reference, from the click commands themselves.

    .venv/bin/python docs/make_cli_reference.py           # rewrite docs/cli.md
    .venv/bin/python docs/make_cli_reference.py --check   # exit 1 when docs/cli.md is stale

tests/authoring/test_docs.py fails when docs/cli.md differs from what this script writes: after changing a
command's options or help, run the script and commit docs/cli.md with the change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

OUT = Path(__file__).resolve().parent / "cli.md"
WIDTH = 110

HEADER = """# CLI reference

Generated from the commands' own `--help` by `docs/make_cli_reference.py`; do not edit by hand.
Every command prints errors as `error [CODE]: ...` on stderr: look the code up in
[troubleshooting.md](troubleshooting.md). Exit status: 0 all good, 1 a run or validation failed, 2 usage
or input error. `python -m plughost` is the same command.

## Shell completion

plughost completes its commands and options, and plugin names after `--strategy`, `--feature`,
`validate-plugin`, `enable-plugin` and `disable-plugin` (from the `--plugins-dir` folders already typed,
else `$PLUGHOST_PLUGIN_PATH` or `./plugins`, plus the bundled examples). Enable it once per shell:

```sh
# bash: in ~/.bashrc
eval "$(_PLUGHOST_COMPLETE=bash_source plughost)"
# zsh: in ~/.zshrc
eval "$(_PLUGHOST_COMPLETE=zsh_source plughost)"
# fish: once
_PLUGHOST_COMPLETE=fish_source plughost > ~/.config/fish/completions/plughost.fish
```

For a faster shell start, write the script to a file once (`_PLUGHOST_COMPLETE=bash_source plughost >
~/.plughost-complete.bash`) and source that file instead.
"""


def _context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return click.Context(command, info_name=name, parent=parent, **settings)


def _help(command: click.Command, name: str, parent: click.Context | None) -> str:
    return command.get_help(_context(command, name, parent)).rstrip()


def render() -> str:
    from plughost.cli import main

    root = _context(main, "plughost", None)
    parts = [HEADER, "## plughost\n", "```text", _help(main, "plughost", None), "```\n"]
    commands = main.load_all() if hasattr(main, "load_all") else main.commands
    for name in sorted(commands):
        parts += [f"## plughost {name}\n", "```text", _help(commands[name], name, root), "```\n"]
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is stale: run `.venv/bin/python docs/make_cli_reference.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
