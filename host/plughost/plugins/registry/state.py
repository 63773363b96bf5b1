"""Which plugins are disabled: `$PLUGHOST_HOME/state.json`, `{"version": 1, "disabled": [names]}`, written
atomically under a lock. A state file that cannot be read fails closed (STATE_INVALID)."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from plughost.errors import StateError
from plughost.safefile import atomic_write, loads_json, read_text

STATE_FILE = "state.json"


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".state.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_disabled(home: Path) -> set[str]:
    """The disabled plugins. A state file that exists but cannot be read fails closed (STATE_INVALID):
    treating it as empty would silently re-enable every plugin the user disabled."""
    path = home / STATE_FILE
    try:
        data = loads_json(read_text(path))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        raise StateError(
            f"the plugin state file {path} is unreadable or corrupt ({exc}); it lists the disabled plugins, "
            "so plughost will not guess",
            hint=f"fix it, or delete it to enable every plugin again (`rm {path}`), then disable the ones you "
            "want off with `plughost disable-plugin NAME`",
        ) from None
    disabled = data.get("disabled") if isinstance(data, dict) else None
    if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
        raise StateError(
            f"the plugin state file {path} has no valid `disabled` list; plughost will not guess which plugins "
            "are disabled",
            hint=f'write {{"version": 1, "disabled": []}} to it, or delete it (`rm {path}`)',
        )
    return set(disabled)


def set_enabled(home: Path, name: str, enabled: bool) -> bool:
    """Record the state of `name`. Returns True when it changed."""
    with _locked(home):
        disabled = read_disabled(home)
        before = name not in disabled
        if enabled:
            disabled.discard(name)
        else:
            disabled.add(name)
        if before != enabled or not (home / STATE_FILE).exists():
            text = json.dumps({"version": 1, "disabled": sorted(disabled)}, indent=2, sort_keys=True) + "\n"
            atomic_write(home / STATE_FILE, text, mode=0o600)
    return before != enabled
