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
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plughost import bundle
from plughost.errors import ConfigError, ManifestError, PluginDisabled, PluginNotFound, StateError
from plughost.plugins.manifest import (
    MANIFEST_FILE,
    Diagnostic,
    PluginManifest,
    check_paths,
    contained_path,
    parse_manifest_data,
    read_manifest,
)
from plughost.safefile import loads_json, read_text

ENV_PLUGIN_PATH = "PLUGHOST_PLUGIN_PATH"
ENV_HOME = "PLUGHOST_HOME"
STATE_FILE = "state.json"
CACHE_FILE = "cache/registry.json"
CACHE_VERSION = 1
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


# --------------------------------------------------------------------------------------------- entries


@dataclass
class PluginEntry:
    """One discovered plugin folder, valid or not."""

    name: str  # the manifest's name; for a broken manifest, its raw `name` or the folder's name
    path: Path  # the plugin folder
    manifest: PluginManifest | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    enabled: bool = True

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def valid(self) -> bool:
        return self.manifest is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def type(self) -> str | None:
        return self.manifest.type if self.manifest else None

    @property
    def language(self) -> str | None:
        return self.manifest.language if self.manifest else None

    @property
    def version(self) -> str | None:
        return self.manifest.version if self.manifest else None

    @property
    def entry_path(self) -> Path | None:
        """The real path of the entry file, or None when it escapes the folder."""
        if self.manifest is None:
            return None
        return contained_path(self.path, self.manifest.entry)[0]

    @property
    def config_schema_path(self) -> Path | None:
        if self.manifest is None or self.manifest.config_schema is None:
            return None
        return contained_path(self.path, self.manifest.config_schema)[0]

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": self.name,
            "type": self.type,
            "language": self.language,
            "version": self.version,
            "description": m.description if m else None,
            "path": str(self.path),
            "enabled": self.enabled,
            "valid": self.valid,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }

    def invalid_error(self) -> ManifestError:
        lines = "\n".join(f"  - {d}" for d in self.errors) or "  - (no manifest)"
        return ManifestError(
            f"plugin '{self.name}' ({self.path}) is invalid:\n{lines}",
            plugin=self.name,
            path=str(self.manifest_path),
            hint=f"fix it, then check with `plughost validate-plugin {self.path}`",
        )


def _stat_key(path: Path | None) -> list[int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


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


def scan_plugin_dir(
    plugin_dir: Path, cache: dict[str, Any] | None = None, *, root_real: str | None = None
) -> tuple[PluginEntry, bool]:
    """Build the entry for one folder. Returns (entry, cache_was_updated)."""
    plugin_dir = Path(plugin_dir)
    mpath = plugin_dir / MANIFEST_FILE
    key = str(plugin_dir)
    mstat = _stat_key(mpath)
    raw: Any = None
    manifest: PluginManifest | None = None
    diags: list[Diagnostic] = []
    updated = False
    hit = cache.get(key) if cache is not None else None
    if hit is not None and hit.get("manifest_stat") == mstat and mstat is not None:
        raw = hit.get("raw")
        entry_val = raw.get("entry") if isinstance(raw, dict) else None
        entry_stat = _stat_key(plugin_dir / entry_val) if isinstance(entry_val, str) else None
        if hit.get("entry_stat") == entry_stat:
            manifest_dict = hit.get("manifest")
            # written by us from a validated model: no need to validate again
            manifest = PluginManifest.model_construct(**manifest_dict) if manifest_dict is not None else None
            diags = [Diagnostic(**d) for d in hit.get("diagnostics", [])]
        else:
            hit = None
    else:
        hit = None
    if hit is None:
        raw, manifest, diags = read_manifest(mpath)
        if cache is not None and mstat is not None:
            entry_val = raw.get("entry") if isinstance(raw, dict) else None
            cache[key] = {
                "manifest_stat": mstat,
                "entry_stat": _stat_key(plugin_dir / entry_val) if isinstance(entry_val, str) else None,
                "raw": raw if isinstance(raw, dict) else None,
                "manifest": manifest.model_dump() if manifest else None,
                "diagnostics": [d.to_dict() for d in diags],
            }
            updated = True
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
    manifest: PluginManifest, plugin_dir: Path, file: str, diags: list[Diagnostic]
) -> list[Diagnostic]:
    """A config schema that would break every use of the plugin (circular $ref, over the file limits)
    makes the plugin invalid in the listing too, not only in `validate-plugin`."""
    if manifest.config_schema is None or any(d.check == "path-escape" for d in diags):
        return []
    from plughost.plugins.config import load_schema  # config builds on the registry's entries

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


# ----------------------------------------------------------------------------------------- state files


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
            _atomic_write_json(home / STATE_FILE, {"version": 1, "disabled": sorted(disabled)})
    return before != enabled


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = loads_json(read_text(path))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    if not isinstance(data.get("plugins"), dict):
        return {}
    return dict(data["plugins"])


# -------------------------------------------------------------------------------------------- registry


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
        cache = _load_cache(cache_path) if use_cache else None
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
        _mark_duplicates(entries)
        _check_dependencies(entries)
        disabled = read_disabled(home)
        for e in entries:
            e.enabled = e.name not in disabled
        if use_cache and cache is not None and dirty:
            with contextlib.suppress(OSError):
                _atomic_write_json(cache_path, {"version": CACHE_VERSION, "plugins": cache})
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


def _mark_duplicates(entries: list[PluginEntry]) -> None:
    by_name: dict[str, list[PluginEntry]] = {}
    for e in entries:
        if e.manifest is not None:
            by_name.setdefault(e.name, []).append(e)
    for name, group in by_name.items():
        if len(group) < 2:
            continue
        for e in group:
            others = ", ".join(str(o.path) for o in group if o is not e)
            e.diagnostics.append(
                Diagnostic(
                    "error",
                    "duplicate-name",
                    f"plugin name '{name}' is also used by {others}; both are refused until one is renamed",
                    str(e.manifest_path),
                    "/name",
                )
            )


def check_dependencies(entry: PluginEntry, names: set[str], where: str = "") -> None:
    """Add a diagnostic to `entry` for each declared dependency not among `names`."""
    if entry.manifest is None:
        return
    for i, dep in enumerate(entry.manifest.dependencies):
        if dep not in names:
            found_in = f" ({where})" if where else ""
            entry.diagnostics.append(Diagnostic(
                "error", "dependencies",
                f"dependency '{dep}' is not among the discovered plugins{found_in}; install it or add its folder "
                "with --plugins-dir",
                str(entry.manifest_path), f"/dependencies/{i}",
            ))


def _check_dependencies(entries: list[PluginEntry]) -> None:
    names = {e.name for e in entries if e.manifest is not None}
    for e in entries:
        check_dependencies(e, names)


__all__ = [
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
]
