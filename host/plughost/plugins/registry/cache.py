"""The discovery cache, `$PLUGHOST_HOME/cache/registry.json`: parsed manifests keyed by plugin folder,
reused while the mtime, size and inode of plugin.json and of the entry file are unchanged. It holds what
reading a manifest found, never the path containment checks: those run on every scan."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from plughost.plugins.manifest import Diagnostic, Manifest
from plughost.safefile import atomic_write, loads_json, read_text

CACHE_FILE = "cache/registry.json"
CACHE_VERSION = 1

Cache = dict[str, Any]  # plugin folder -> {manifest_stat, entry_stat, raw, manifest, diagnostics}
Found = tuple[Any, Manifest | None, list[Diagnostic]]  # (raw JSON, manifest, diagnostics) of a manifest


def stat_key(path: Path | None) -> list[int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _entry_stat(plugin_dir: Path, raw: Any) -> list[int] | None:
    entry_val = raw.get("entry") if isinstance(raw, dict) else None
    return stat_key(plugin_dir / entry_val) if isinstance(entry_val, str) else None


def cached(cache: Cache | None, plugin_dir: Path, manifest_stat: list[int] | None) -> Found | None:
    """What reading the folder's manifest found, when neither plugin.json nor the entry file changed since."""
    hit = cache.get(str(plugin_dir)) if cache is not None else None
    if hit is None or hit.get("manifest_stat") != manifest_stat or manifest_stat is None:
        return None
    raw = hit.get("raw")
    if hit.get("entry_stat") != _entry_stat(plugin_dir, raw):
        return None
    manifest_dict = hit.get("manifest")
    try:  # written by us from a validated manifest: no need to validate again
        manifest = Manifest(**manifest_dict) if manifest_dict is not None else None
    except TypeError:  # not a manifest this version wrote: read the folder again
        return None
    return raw, manifest, [Diagnostic(**d) for d in hit.get("diagnostics", [])]


def remember(cache: Cache, plugin_dir: Path, manifest_stat: list[int], found: Found) -> None:
    raw, manifest, diags = found
    cache[str(plugin_dir)] = {
        "manifest_stat": manifest_stat,
        "entry_stat": _entry_stat(plugin_dir, raw),
        "raw": raw if isinstance(raw, dict) else None,
        "manifest": manifest.to_dict() if manifest else None,
        "diagnostics": [d.to_dict() for d in diags],
    }


def load_cache(path: Path) -> Cache:
    """The cached folders; empty when the file is missing, unreadable or of another version."""
    try:
        data = loads_json(read_text(path))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    if not isinstance(data.get("plugins"), dict):
        return {}
    return dict(data["plugins"])


def save_cache(path: Path, cache: Cache) -> None:
    text = json.dumps({"version": CACHE_VERSION, "plugins": cache}, indent=2, sort_keys=True) + "\n"
    atomic_write(path, text, mode=0o600)
