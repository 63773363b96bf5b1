"""The registry: the plugins found in a list of roots (and the bundled examples), looked up by name, with
their enable/disable state."""

from __future__ import annotations

import builtins
import contextlib
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from plughost import bundle
from plughost.errors import ManifestError, PluginDisabled, PluginNotFound
from plughost.plugins.registry.cache import CACHE_FILE, load_cache, save_cache
from plughost.plugins.registry.entry import PluginEntry, check_all_dependencies, check_dependencies, mark_duplicates
from plughost.plugins.registry.scan import scan_plugin_dir
from plughost.plugins.registry.state import read_disabled, set_enabled
from plughost.plugins.registry.walk import find_plugin_dirs, plughost_home, resolve_roots


class Registry:
    """The plugins found in a list of roots, with their enable/disable state."""

    def __init__(self, roots: builtins.list[Path], entries: builtins.list[PluginEntry], home: Path,
                 examples_root: Path | None = None) -> None:
        self.roots = roots
        self.home = home
        self._entries = sorted(entries, key=lambda e: (e.name, str(e.path)))
        # The example plugins that ship with plughost: a name not found in `roots` is looked up there last
        # (scanned only then). A plugin of the same name in `roots` shadows an example; never a duplicate.
        self.examples_root = examples_root
        self._examples: builtins.list[PluginEntry] | None = None

    @classmethod
    def discover(
        cls,
        roots: Sequence[str | Path] | None = None,
        *,
        home: Path | None = None,
        env: Mapping[str, str] | None = None,
        use_cache: bool = True,
        examples: bool = True,
    ) -> Registry:
        """Scan every root. `roots=None` means `resolve_roots(None)` (env var, else ./plugins). With
        `examples`, the bundled example plugins answer names that no root holds."""
        root_paths = [Path(r) for r in roots] if roots else resolve_roots(None, env)
        home = home or plughost_home(env)
        cache_path = home / CACHE_FILE
        cache = load_cache(cache_path) if use_cache else None
        seen: set[str] = set()
        entries: builtins.list[PluginEntry] = []
        dirty = False
        for root in root_paths:
            for pdir in find_plugin_dirs(root):
                real = os.path.realpath(pdir)
                if real in seen:  # one folder reached through two roots
                    continue
                seen.add(real)
                entry, updated = scan_plugin_dir(pdir, cache, root_real=real)
                dirty |= updated
                entries.append(entry)
        mark_duplicates(entries)
        check_all_dependencies(entries)
        disabled = read_disabled(home)
        for e in entries:
            e.enabled = e.name not in disabled
        if use_cache and cache is not None and dirty:
            with contextlib.suppress(OSError):  # a cache that cannot be written costs time, nothing else
                save_cache(cache_path, cache)
        examples_root = bundle.examples_root() if examples else None
        if examples_root is not None and os.path.realpath(examples_root) in {os.path.realpath(r) for r in root_paths}:
            examples_root = None  # already one of the roots (a checkout's ./plugins)
        return cls(root_paths, entries, home, examples_root)

    def examples(self) -> builtins.list[PluginEntry]:
        """The bundled example plugins not shadowed by a plugin of the same name in the roots."""
        if self._examples is None:
            self._examples = []
            if self.examples_root is not None:
                mine = {e.name for e in self._entries}
                found = [scan_plugin_dir(p, None, root_real=os.path.realpath(p))[0]
                         for p in find_plugin_dirs(self.examples_root)]
                found = [e for e in found if e.name not in mine]
                names = mine | {e.name for e in found if e.manifest is not None}
                disabled = read_disabled(self.home)
                for e in found:
                    check_dependencies(e, names)
                    e.enabled = e.name not in disabled
                self._examples = sorted(found, key=lambda e: (e.name, str(e.path)))
        return self._examples

    # ---- queries
    def list(self, type: str | None = None) -> builtins.list[PluginEntry]:
        return [e for e in self._entries if type is None or e.type == type]

    def names(self, *, examples: bool = False) -> builtins.list[str]:
        listed = self._entries + (self.examples() if examples else [])
        return sorted({e.name for e in listed})

    def find_all(self, name: str) -> builtins.list[PluginEntry]:
        found = [e for e in self._entries if e.name == name]
        return found or [e for e in self.examples() if e.name == name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.find_all(name))

    def _not_found(self, name: str, type: str | None = None) -> PluginNotFound:
        candidates = [e.name for e in self._entries + self.examples() if type is None or e.type in (type, None)]
        close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
        kind = f"{type} plugin" if type else "plugin"
        where = ", ".join(str(r) for r in self.roots) or "(no plugin folders)"
        if self.examples_root is not None:
            where += " or the bundled examples"
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        hint += "`plughost list-plugins` shows every plugin; add folders with --plugins-dir DIR"
        return PluginNotFound(f"no {kind} named '{name}' in {where}", plugin=name, hint=hint, suggestions=close)

    def lookup(self, name: str) -> PluginEntry:
        """The entry named `name`, valid or not (one of them, for duplicates). PluginNotFound otherwise."""
        found = self.find_all(name)
        if not found:
            raise self._not_found(name)
        return found[0]

    def get(self, name: str, *, type: str | None = None) -> PluginEntry:
        """A valid plugin. PluginNotFound (with close names), or ManifestError for a broken/duplicate one."""
        found = self.find_all(name)
        if type is not None:
            typed = [e for e in found if e.type in (type, None)]
            if found and not typed:
                e = found[0]
                raise ManifestError(
                    f"plugin '{name}' is a {e.type}, not a {type} ({e.path})",
                    plugin=name,
                    path=str(e.manifest_path),
                    hint=f"pick a {type} plugin; `plughost list-plugins --type {type}` lists them",
                )
            found = typed
        if not found:
            raise self._not_found(name, type)
        if len(found) > 1:
            paths = ", ".join(str(e.path) for e in found)
            raise ManifestError(
                f"plugin name '{name}' is defined {len(found)} times: {paths}; all of them are refused",
                plugin=name,
                path=str(found[0].manifest_path),
                hint="rename one of them (the `name` in plugin.json) or remove it from the plugin path",
            )
        entry = found[0]
        if not entry.valid:
            raise entry.invalid_error()
        return entry

    def get_runnable(self, name: str, *, type: str | None = None) -> PluginEntry:
        """`get()` plus the enable/disable state: what `run` calls."""
        entry = self.get(name, type=type)
        if not entry.enabled:
            raise PluginDisabled(
                f"plugin '{name}' is disabled and cannot be run",
                plugin=name,
                hint=f"enable it with `plughost enable-plugin {name}`",
            )
        return entry

    # ---- state
    def set_enabled(self, name: str, enabled: bool) -> bool:
        """Enable or disable by name (kept in $PLUGHOST_HOME/state.json). Returns True when it changed."""
        found = self.find_all(name)
        if not found:
            raise self._not_found(name)
        changed = set_enabled(self.home, name, enabled)
        for e in found:
            e.enabled = enabled
        return changed

    def enable(self, name: str) -> bool:
        return self.set_enabled(name, True)

    def disable(self, name: str) -> bool:
        return self.set_enabled(name, False)
