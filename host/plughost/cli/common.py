"""What every command shares: the --plugins-dir option, the registry it selects, and one place where a
PlughostError becomes a message on stderr and an exit status."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from ..errors import PlughostError
from ..plugins.registry import Registry, resolve_roots

F = TypeVar("F", bound=Callable[..., Any])

PLUGINS_DIR_HELP = (
    "Folder holding plugins (directly, or one level down as in strategies/<name>/). Repeatable. "
    "Default: $PLUGHOST_PLUGIN_PATH (':'-separated), else ./plugins."
)


def plugins_dir_option(func: F) -> F:
    return click.option(
        "--plugins-dir",
        "plugins_dirs",
        multiple=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=PLUGINS_DIR_HELP,
    )(func)


def handle_errors(func: F) -> F:
    """A PlughostError becomes a message on stderr and its exit status (2 for input errors)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PlughostError as exc:
            click.echo(f"error [{exc.code}]: {exc}", err=True)
            sys.exit(exc.exit_status)

    return wrapper  # type: ignore[return-value]


def open_registry(plugins_dirs: Sequence[Path]) -> Registry:
    return Registry.discover(resolve_roots(list(plugins_dirs)) if plugins_dirs else None)


def complete_plugins(type_: str | None = None, *, paths: bool = False) -> Callable[..., list[CompletionItem]]:
    """Shell completion (click's `shell_complete`) of plugin names, from the roots the command line names
    so far (`--plugins-dir`), else the defaults, plus the bundled examples. With `paths`, something that
    looks like a path is completed as a folder instead."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        if paths and incomplete.startswith((".", "/", "~")):
            return [CompletionItem(incomplete, type="dir")]
        try:
            registry = open_registry(ctx.params.get("plugins_dirs") or ())
            entries = registry.list(type_) + [e for e in registry.examples() if type_ in (None, e.type)]
        except Exception:  # completion must never print a traceback into the user's shell
            return []
        seen: dict[str, CompletionItem] = {}
        for e in entries:
            if e.name.startswith(incomplete) and e.name not in seen:
                about = e.manifest.description if e.manifest is not None else None
                seen[e.name] = CompletionItem(e.name, help=about or e.type)
        return list(seen.values())

    return complete
