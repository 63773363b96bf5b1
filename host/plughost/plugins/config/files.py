"""Config files: a `.json`/`.toml` file given by path, and the named configs stored in a plugin's
`configs/` folder (`<plugin_dir>/configs/<name>.json|toml`)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from plughost.errors import ConfigError
from plughost.plugins.manifest import contained_path
from plughost.safefile import FileLimitError, load_structured

CONFIGS_DIR = "configs"
CONFIG_SUFFIXES = (".json", ".toml")
NAMED_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def load_config_file(path: str | Path, *, plugin: str | None = None) -> dict[str, Any]:
    """A config object from a `.json` or `.toml` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(
            f"config file {path} must be .json or .toml", plugin=plugin, hint="rename it or convert it"
        )
    try:
        data: Any = load_structured(path)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist", plugin=plugin, hint="check the path"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", plugin=plugin) from None
    except FileLimitError as exc:
        raise ConfigError(
            f"config file {path} is {exc}",
            plugin=plugin,
            hint="fix the syntax",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold an object (a JSON object or TOML table)", plugin=plugin
        )
    return data


def list_named_configs(plugin_dir: Path) -> list[str]:
    """Names of the configs stored in `<plugin_dir>/configs/`."""
    cdir = plugin_dir / CONFIGS_DIR
    try:
        return sorted({p.stem for p in cdir.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file()})
    except OSError:
        return []


def find_named_config(plugin_dir: Path, name: str, *, plugin: str | None = None) -> Path:
    """`<plugin_dir>/configs/<name>.json` or `.toml`."""
    available = list_named_configs(plugin_dir)
    hint = (
        f"stored configs: {', '.join(available)}"
        if available
        else f"none are stored in {plugin_dir / CONFIGS_DIR}"
    )
    if NAMED_RE.match(name):
        for suffix in CONFIG_SUFFIXES:
            real, _why = contained_path(plugin_dir, f"{CONFIGS_DIR}/{name}{suffix}")
            if real is not None and real.is_file():
                return real
    close = difflib.get_close_matches(name, available, n=3)
    if close:
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? {hint}"
    raise ConfigError(
        f"plugin '{plugin or plugin_dir.name}' has no named config '{name}'", plugin=plugin, hint=hint
    )


def is_config_name(config: str | Path) -> bool:
    """A bare word (no config suffix) that can name a stored config rather than a file."""
    return bool(NAMED_RE.match(str(config))) and Path(str(config)).suffix not in CONFIG_SUFFIXES
