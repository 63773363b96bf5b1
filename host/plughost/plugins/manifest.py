"""The `plugin.json` manifest: model, parsing with diagnostics, and path containment checks.

Everything here is static: nothing is imported from a plugin and nothing is spawned. The registry,
the loader and the validator all go through `read_manifest()` and `check_paths()`.

`python -m plughost.plugins.manifest` (or `write_schema()`) regenerates `protocol/plugin.schema.json`; a test
fails when the committed file drifts from `PluginManifest`. The pydantic model lives in `manifest_model`, loaded
only for the schema and for a manifest that is not plainly valid: a valid one is read without pydantic.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from plughost.errors import ManifestError
from plughost.indicators import INDICATOR_TYPES, parse_indicators
from plughost.safefile import FileLimitError, loads_json, read_text

if TYPE_CHECKING:
    from plughost.plugins.manifest_model import PluginManifest

MANIFEST_FILE = "plugin.json"
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# semver.org's recommended expression (no lookarounds, so it is valid in Rust, Python and ECMA-262)
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
MAX_MANIFEST_BYTES = 1024 * 1024  # a plugin.json is a few hundred bytes
SCHEMA_ID = "https://plughost.dev/schemas/plugin.schema.json"
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "protocol" / "plugin.schema.json"

Severity = Literal["error", "warning", "info"]

_COUNT = {"type": "integer", "minimum": 1, "maximum": 100_000}
INDICATORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Indicators the strategy reads, by name, as in a run config's `indicators`; the run's own win on a "
        "name clash. bbands publishes <name>.upper/.middle/.lower, macd <name>.line/.signal/.histogram."
    ),
    "additionalProperties": {
        "type": "object",
        "required": ["type"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": list(INDICATOR_TYPES)},
            "period": {**_COUNT, "description": "Window length (sma, ema, rsi, atr, stddev, bbands)."},
            "k": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000,
                  "description": "bbands: band width in standard deviations (default 2)."},
            "fast": {**_COUNT, "description": "macd: fast EMA period (default 12)."},
            "slow": {**_COUNT, "description": "macd: slow EMA period (default 26)."},
            "signal": {**_COUNT, "description": "macd: signal EMA period (default 9)."},
        },
    },
    "examples": [{"sma_10": {"type": "sma", "period": 10}, "bb": {"type": "bbands", "period": 20, "k": 2}}],
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a plugin: what check, where (file + JSON pointer), and what to do."""

    severity: Severity
    check: str
    message: str
    file: str | None = None
    pointer: str | None = None
    code: str | None = None  # the contract's error code, when a plugin process failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file or ""
        if self.pointer is not None:
            where += f" at {self.pointer or '/'}"
        return f"{where}: {self.message}" if where else self.message

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


PluginType = Literal["strategy", "feature"]
Language = Literal["python", "typescript", "javascript"]


@dataclass(frozen=True)
class Manifest:
    """A valid `plugin.json`, by field name (`configSchema` is `config_schema`). Built by `parse_manifest_data`;
    `manifest_model.PluginManifest` is the same manifest as a pydantic model (its schema and its messages)."""

    name: str
    version: str
    type: PluginType
    language: Language
    entry: str
    config_schema: str | None = None
    dependencies: list[str] = field(default_factory=list)
    description: str | None = None
    author: str | None = None
    indicators: dict[str, dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """As in plugin.json: keys by their JSON names, unset ones left out."""
        return {_ALIASES.get(k, k): v for k, v in self.to_dict().items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """By field name, every field (what the discovery cache stores)."""
        return asdict(self)


_ALIASES = {"config_schema": "configSchema"}
MANIFEST_KEYS: tuple[str, ...] = tuple(_ALIASES.get(f.name, f.name) for f in fields(Manifest))
_REQUIRED = frozenset(("name", "version", "type", "language", "entry"))
_NAME_RE = re.compile(NAME_PATTERN)
_SEMVER_RE = re.compile(SEMVER_PATTERN)


def _is_name(value: Any) -> bool:
    # fullmatch: re's `$` would also match before a final newline, which the model's pattern refuses;
    # ASCII only, so `\d` means the same digits as in the model's (Rust) regex engine
    return type(value) is str and value.isascii() and _NAME_RE.fullmatch(value) is not None


def _optional_str(value: Any, *, min_length: int = 0) -> bool:
    return value is None or (type(value) is str and len(value) >= min_length)


def _quick(data: Any) -> Manifest | None:
    """The manifest when `data` is plainly valid (exact JSON types, every rule met), else None. What it
    accepts the model accepts with the same values (tests/plugins/test_manifest_quick.py); anything else,
    valid or not, goes to the model."""
    if type(data) is not dict or not _REQUIRED.issubset(data) or not set(data).issubset(MANIFEST_KEYS):
        return None
    version, deps, indicators = data["version"], data.get("dependencies", []), data.get("indicators")
    if not (_is_name(data["name"]) and type(version) is str and version.isascii()
            and _SEMVER_RE.fullmatch(version) is not None
            and data["type"] in ("strategy", "feature") and type(data["type"]) is str
            and data["language"] in ("python", "typescript", "javascript") and type(data["language"]) is str
            and type(data["entry"]) is str and len(data["entry"]) >= 1
            and _optional_str(data.get("configSchema"), min_length=1)
            and type(deps) is list and all(_is_name(d) for d in deps)
            and _optional_str(data.get("description")) and _optional_str(data.get("author"))):
        return None
    if "indicators" in data:
        if indicators is not None and not (
                type(indicators) is dict and all(type(k) is str and type(v) is dict for k, v in indicators.items())):
            return None
        try:
            parse_indicators(indicators)
        except Exception:  # the model words it
            return None
    return Manifest(
        name=data["name"], version=version, type=cast(PluginType, data["type"]),
        language=cast(Language, data["language"]), entry=data["entry"],
        config_schema=data.get("configSchema"), dependencies=list(deps), description=data.get("description"),
        author=data.get("author"),
        indicators={k: dict(v) for k, v in indicators.items()} if indicators is not None else None,
    )


def parse_manifest_data(data: Any, *, file: str | None = None) -> tuple[Manifest | None, list[Diagnostic]]:
    """Validate already-decoded JSON; every problem becomes one diagnostic."""
    manifest = _quick(data)
    if manifest is not None:
        return manifest, []
    from plughost.plugins.manifest_model import validate  # pydantic: only for what the quick check does not pass

    return validate(data, file=file)


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of `plugin.json`, as committed in `protocol/plugin.schema.json`."""
    from plughost.plugins.manifest_model import manifest_json_schema as schema

    return schema()


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    from plughost.plugins.manifest_model import write_schema as write

    return write(path)


def __getattr__(name: str) -> Any:
    """`PluginManifest` and `render_schema` load pydantic on first use (PEP 562)."""
    if name in ("PluginManifest", "render_schema"):
        from plughost.plugins import manifest_model

        return getattr(manifest_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------- reading


def read_manifest(manifest_path: Path) -> tuple[Any, Manifest | None, list[Diagnostic]]:
    """Read and validate one `plugin.json`. Returns (raw JSON or None, manifest or None, diagnostics)."""
    file = str(manifest_path)
    try:
        text = read_text(manifest_path, max_bytes=MAX_MANIFEST_BYTES)
    except OSError as exc:
        return None, None, [Diagnostic("error", "manifest-json", f"cannot read plugin.json: {exc}", file, "")]
    except FileLimitError as exc:
        return None, None, [Diagnostic("error", "manifest-json", f"plugin.json is {exc}", file, "")]
    try:
        raw = loads_json(text)
    except FileLimitError as exc:
        why = str(exc).removeprefix("not valid JSON: ")
        return None, None, [Diagnostic("error", "manifest-json", f"invalid JSON: {why}", file, "")]
    manifest, diags = parse_manifest_data(raw, file=file)
    return raw, manifest, diags


# ------------------------------------------------------------------------------------------ path checks


def contained_path(plugin_dir: Path, value: str, *, root_real: str | None = None) -> tuple[Path | None, str | None]:
    """Resolve `value` inside `plugin_dir`. Returns (real path, None) or (None, why it escapes).

    Every component below the plugin folder is checked with lstat; a symlink is followed (realpath) and
    must still land inside the folder. `root_real` is the folder's realpath, when the caller has it.
    """
    if not value:
        return None, "is empty"
    if value.startswith("~") or os.path.isabs(value) or "\\" in value or (len(value) > 1 and value[1] == ":"):
        return None, f"is absolute ({value!r}); use a path relative to the plugin folder"
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, f"contains '..' ({value!r}); it must stay inside the plugin folder"
    root = root_real or os.path.realpath(plugin_dir)
    prefix = root.rstrip(os.sep) + os.sep
    cur = root
    for i, part in enumerate(parts):
        nxt = cur + os.sep + part
        try:
            st = os.lstat(nxt)
        except OSError:  # does not exist (yet): nothing below it can be a symlink
            cur = os.path.join(nxt, *parts[i + 1 :])
            break
        if stat.S_ISLNK(st.st_mode):
            nxt = os.path.realpath(nxt)
            if nxt != root and not nxt.startswith(prefix):
                return None, f"leaves the plugin folder through a symlink ({value!r} -> {nxt})"
        cur = nxt
    return Path(cur), None


def check_paths(
    manifest: Manifest | PluginManifest, plugin_dir: Path, *, file: str | None = None, root_real: str | None = None
) -> list[Diagnostic]:
    """Containment and existence of `entry` and `configSchema`. Run before anything is spawned."""
    out: list[Diagnostic] = []
    file = file or str(plugin_dir / MANIFEST_FILE)
    root_real = root_real or os.path.realpath(plugin_dir)
    for key, value in (("entry", manifest.entry), ("configSchema", manifest.config_schema)):
        if value is None:
            continue
        real, why = contained_path(plugin_dir, value, root_real=root_real)
        if real is None:
            out.append(Diagnostic("error", "path-escape", f"'{key}' {why}; refused", file, f"/{key}"))
            continue
        if real.is_file():
            if key == "entry":
                want = ".py" if manifest.language == "python" else ".js"
                allowed = (want, ".mjs", ".cjs") if want == ".js" else (want,)
                if real.suffix not in allowed:
                    out.append(
                        Diagnostic("warning", "entry", f"'entry' {value!r} is not a {want} file", file, "/entry")
                    )
            continue
        if key == "entry" and manifest.language in ("typescript", "javascript"):
            msg = (
                f"built entry {value!r} does not exist; run `npm run build` in {plugin_dir} "
                f"(it compiles the TypeScript sources into {value})"
            )
            if manifest.language == "javascript":
                msg = f"entry {value!r} does not exist in {plugin_dir}"
            out.append(Diagnostic("error", "entry-missing", msg, file, "/entry"))
        else:
            out.append(
                Diagnostic(
                    "error",
                    f"{'entry' if key == 'entry' else 'config-schema'}-missing",
                    f"'{key}' file {value!r} does not exist in {plugin_dir}",
                    file,
                    f"/{key}",
                )
            )
    return out


def load_manifest(plugin_dir: Path) -> Manifest:
    """Strict form: the manifest of `plugin_dir`, or a `ManifestError` listing every problem."""
    path = plugin_dir / MANIFEST_FILE
    _raw, manifest, diags = read_manifest(path)
    if manifest is not None:
        diags += check_paths(manifest, plugin_dir, file=str(path))
    errors = [d for d in diags if d.is_error]
    if manifest is None or errors:
        name = manifest.name if manifest else None
        raise ManifestError(
            f"invalid plugin manifest {path}:\n" + "\n".join(f"  - {d}" for d in errors),
            plugin=name,
            path=str(path),
            hint=f"fix {path}; `plughost validate-plugin {plugin_dir}` shows every problem",
        )
    return manifest


if __name__ == "__main__":  # pragma: no cover
    print(f"wrote {write_schema()}")
