"""Plugin discovery: roots, scan, metadata cache, enable/disable state, lookup by name.

    roots = resolve_roots(cli_dirs)                 # --plugins-dir, else $PLUGHOST_PLUGIN_PATH, else plugins/
    reg = Registry.discover(roots)                  # never raises for a broken plugin; the bundled examples
                                                    # (plughost.bundle) answer names no root holds
    reg.list(type="strategy")                       # every entry, valid or not, sorted by name
    entry = reg.get("sma-cross")                    # PluginNotFound (with close names) / ManifestError
    entry = reg.get_runnable("sma-cross")           # + PluginDisabled when disabled
    reg.disable("sma-cross"); reg.enable("sma-cross")

Files under `$PLUGHOST_HOME` (default `~/.plughost`):
    state.json              {"version": 1, "disabled": [names]}; written atomically under a lock
    cache/registry.json     parsed manifests keyed by plugin folder, reused while the mtime and size of
                            plugin.json and of the entry file are unchanged. Path containment checks are
                            never served from the cache: they run on every scan.

One job a module, each importing only those below it:
    lookup     the Registry: discovery over the roots, lookup by name, enable/disable
    scan       one folder made into an entry (through the cache; the uncached checks)
    cache      the discovery cache file
    entry      PluginEntry, and the checks across entries (duplicate names, dependencies)
    state      the enable/disable state file
    walk       the roots, the home folder, and the plugin folders inside a root
"""

from __future__ import annotations

from plughost.plugins.manifest import Diagnostic, parse_manifest_data
from plughost.plugins.registry.cache import CACHE_FILE, CACHE_VERSION
from plughost.plugins.registry.entry import PluginEntry, check_dependencies
from plughost.plugins.registry.lookup import Registry
from plughost.plugins.registry.scan import scan_plugin_dir, scan_single
from plughost.plugins.registry.state import STATE_FILE, read_disabled, set_enabled
from plughost.plugins.registry.walk import (
    ENV_HOME,
    ENV_PLUGIN_PATH,
    SKIP_DIRS,
    find_plugin_dirs,
    plughost_home,
    resolve_roots,
)

__all__ = [
    "CACHE_FILE",
    "CACHE_VERSION",
    "ENV_HOME",
    "ENV_PLUGIN_PATH",
    "SKIP_DIRS",
    "STATE_FILE",
    "Diagnostic",
    "PluginEntry",
    "Registry",
    "check_dependencies",
    "find_plugin_dirs",
    "parse_manifest_data",
    "plughost_home",
    "read_disabled",
    "resolve_roots",
    "scan_plugin_dir",
    "scan_single",
    "set_enabled",
]
