"""One discovered plugin folder, valid or not, and the checks that need the other entries (duplicate names,
missing dependencies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plughost.errors import ManifestError
from plughost.plugins.manifest import MANIFEST_FILE, Diagnostic, Manifest, contained_path


@dataclass
class PluginEntry:
    """One discovered plugin folder, valid or not."""

    name: str  # the manifest's name; for a broken manifest, its raw `name` or the folder's name
    path: Path  # the plugin folder
    manifest: Manifest | None
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


def mark_duplicates(entries: list[PluginEntry]) -> None:
    """A diagnostic on every entry whose name another valid manifest also uses: all of them are refused."""
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


def check_all_dependencies(entries: list[PluginEntry]) -> None:
    names = {e.name for e in entries if e.manifest is not None}
    for e in entries:
        check_dependencies(e, names)
