"""Where plugins are looked for: the roots (`--plugins-dir`, `$PLUGHOST_PLUGIN_PATH`, `./plugins`), the
home folder of plughost's own files, and the plugin folders inside a root."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from plughost.plugins.manifest import MANIFEST_FILE

ENV_PLUGIN_PATH = "PLUGHOST_PLUGIN_PATH"
ENV_HOME = "PLUGHOST_HOME"
SKIP_DIRS = frozenset({"node_modules", "__pycache__"})


def plughost_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    value = env.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".plughost"


def resolve_roots(
    plugins_dirs: Sequence[str | Path] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> list[Path]:
    """`--plugins-dir` values, else `$PLUGHOST_PLUGIN_PATH` (`:`-separated), else `./plugins`."""
    env = os.environ if env is None else env
    base = cwd or Path.cwd()
    if plugins_dirs:
        raw: list[str | Path] = list(plugins_dirs)
    elif env.get(ENV_PLUGIN_PATH):
        raw = [p for p in env[ENV_PLUGIN_PATH].split(":") if p]
    else:
        raw = ["plugins"]
    out: list[Path] = []
    for p in raw:
        path = Path(p).expanduser()
        path = path if path.is_absolute() else base / path
        if path not in out:
            out.append(path)
    return out


def find_plugin_dirs(root: Path) -> Iterator[Path]:
    """Plugin folders in `root`: `root` itself, its children, or its grandchildren (one grouping level)."""
    if (root / MANIFEST_FILE).is_file():
        yield root
        return
    for child in _subdirs(root):
        if (child / MANIFEST_FILE).is_file():
            yield child
        else:
            yield from (g for g in _subdirs(child) if (g / MANIFEST_FILE).is_file())


def _subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders, by name (hidden ones, node_modules and __pycache__ are never plugins)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    return [Path(e.path) for e in entries if not e.name.startswith(".") and e.name not in SKIP_DIRS and e.is_dir()]
