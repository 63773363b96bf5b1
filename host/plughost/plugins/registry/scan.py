"""One plugin folder made into an entry: its manifest read (or taken from the discovery cache), then the
checks that are never cached (path containment and existence, a config schema that can never be used)."""

from __future__ import annotations

from pathlib import Path

from plughost.errors import ConfigError
from plughost.plugins.manifest import MANIFEST_FILE, Diagnostic, Manifest, check_paths, read_manifest
from plughost.plugins.registry.cache import Cache, cached, remember, stat_key
from plughost.plugins.registry.entry import PluginEntry


def scan_plugin_dir(
    plugin_dir: Path, cache: Cache | None = None, *, root_real: str | None = None
) -> tuple[PluginEntry, bool]:
    """Build the entry for one folder. Returns (entry, cache_was_updated)."""
    plugin_dir = Path(plugin_dir)
    mpath = plugin_dir / MANIFEST_FILE
    mstat = stat_key(mpath)
    updated = False
    found = cached(cache, plugin_dir, mstat)
    if found is None:
        found = read_manifest(mpath)
        if cache is not None and mstat is not None:
            remember(cache, plugin_dir, mstat, found)
            updated = True
    raw, manifest, diags = found
    if manifest is not None:
        # containment and existence: cheap, security relevant, never cached
        diags = diags + check_paths(manifest, plugin_dir, file=str(mpath), root_real=root_real)
        diags = diags + _unusable_schema(manifest, plugin_dir, str(mpath), diags)
        name = manifest.name
    else:
        raw_name = raw.get("name") if isinstance(raw, dict) else None
        name = raw_name if isinstance(raw_name, str) else plugin_dir.name
    return PluginEntry(name=name, path=plugin_dir, manifest=manifest, diagnostics=diags), updated


def _unusable_schema(
    manifest: Manifest, plugin_dir: Path, file: str, diags: list[Diagnostic]
) -> list[Diagnostic]:
    """A config schema that would break every use of the plugin (circular $ref, over the file limits)
    makes the plugin invalid in the listing too, not only in `validate-plugin`."""
    if manifest.config_schema is None or any(d.check == "path-escape" for d in diags):
        return []
    from plughost.plugins.config.schema import load_schema  # config builds on the registry's entries

    try:
        load_schema(Path(manifest.config_schema), plugin_dir, plugin=manifest.name)
    except ConfigError as exc:
        if "circular $ref" in exc.message or "nested deeper" in exc.message or "out of range" in exc.message:
            return [Diagnostic("error", "config-schema", exc.message, file, "/configSchema")]
    except Exception:  # anything else is the validator's to report in detail
        return []
    return []


def scan_single(plugin_dir: Path) -> PluginEntry:
    """A plugin folder given by path (validate-plugin PATH), without any cache."""
    return scan_plugin_dir(plugin_dir, None)[0]
