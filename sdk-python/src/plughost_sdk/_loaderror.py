"""What the runner tells the host when a plugin cannot be loaded (PROTOCOL.md section 5, `load_error`):
the user's file and line, not the importer's. A traceback of an import failure ends in importlib or in a
library; the line the author must fix is the last frame inside the plugin's own folder."""

from __future__ import annotations

import linecache
import os
import sys
import traceback
from pathlib import Path
from typing import Any

# Where installed code lives: a frame there is never "the user's line", even when the plugin folder
# holds a virtualenv.
_LIBRARY_PARTS = ("site-packages", "dist-packages")


def _is_users(filename: str, roots: tuple[Path, ...]) -> bool:
    if not filename or filename.startswith("<"):
        return False
    path = Path(filename)
    if any(part in _LIBRARY_PARTS for part in path.parts):
        return False
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in roots)


def _source(file: str | None, line: int | None) -> str | None:
    if not file or not line:
        return None
    text = linecache.getline(file, line)
    return text.rstrip("\r\n") or None


def load_error(exc: BaseException, entry: Path, *, kind: str | None = None) -> dict[str, Any]:
    """The `load_error` params for an exception raised while importing or instantiating the plugin."""
    roots = tuple({Path(os.getcwd()).resolve(), entry.parent.resolve()})
    file: str | None = None
    line: int | None = None
    column: int | None = None
    source: str | None = None
    message = str(exc)
    # A file that does not parse; compile()/ast.parse of a string raise SyntaxError too, from a line that ran
    if isinstance(exc, SyntaxError) and exc.filename and not exc.filename.startswith("<") \
            and Path(exc.filename).is_file():
        file, line, column = exc.filename, exc.lineno, exc.offset
        source = exc.text.rstrip("\r\n") if exc.text else None
        message = exc.msg
        kind = kind or "syntax"
    elif kind != "no_plugin":
        frames = traceback.extract_tb(exc.__traceback__)
        for frame in reversed(frames):
            if _is_users(frame.filename, roots):
                file, line = frame.filename, frame.lineno
                break
        if kind is None:
            kind = "missing_module" if isinstance(exc, ImportError) else "raised"
    if file is None:
        file = str(entry)
    if source is None:
        source = _source(file, line)
    tb = _format(exc) if kind != "no_plugin" else ""
    return {
        "type": type(exc).__name__,
        "message": message,
        "kind": kind,
        "file": str(Path(file).resolve()) if file else None,
        "line": line,
        "column": column,
        "source": source,
        "traceback": tb,
    }


def _format(exc: BaseException) -> str:
    """The traceback without the runner's and importlib's frames, which sit between the runner and the
    plugin and are noise to a plugin author (Python trims them the same way for `import` statements)."""
    sdk = str(Path(__file__).resolve().parent)
    shown = traceback.TracebackException.from_exception(exc)
    shown.stack = traceback.StackSummary.from_list(
        [frame for frame in shown.stack
         if not frame.filename.startswith("<frozen") and not str(Path(frame.filename).resolve()).startswith(sdk)])
    return "".join(shown.format())


def print_load_error(name: str, error: dict[str, Any]) -> None:
    """The same facts on stderr, for a host that does not know `load_error` and for humans."""
    where = error["file"] + (f":{error['line']}" if error.get("line") else "")
    print(f"plughost: cannot load plugin {name!r}: {where}: {error['type']}: {error['message']}", file=sys.stderr)
    if error.get("source"):
        print(f"    {error['source'].strip()}", file=sys.stderr)
    if error.get("traceback"):
        sys.stderr.write(error["traceback"])
