"""The `plugin.json` manifest: model, parsing with diagnostics, and path containment checks.

Everything here is static: nothing is imported from a plugin and nothing is spawned. The registry,
the loader and the validator all go through `read_manifest()` and `check_paths()`.

`python -m plughost.plugins.manifest` (or `write_schema()`) regenerates `protocol/plugin.schema.json`; a test
fails when the committed file drifts from `PluginManifest`.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator

from plughost.errors import ConfigError, ManifestError
from plughost.indicators import INDICATOR_TYPES, parse_indicators
from plughost.safefile import FileLimitError, loads_json, read_text

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


class PluginManifest(BaseModel):
    """`plugin.json`. Unknown keys are refused."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=False,
        frozen=True,
        title="plughost plugin manifest (plugin.json)",
    )

    name: str = Field(
        pattern=NAME_PATTERN,
        description="Unique plugin name: lowercase letters, digits, '.', '_' and '-', at most 64 characters.",
    )
    version: str = Field(pattern=SEMVER_PATTERN, description="Semantic version, e.g. 1.2.0")
    type: Literal["strategy", "feature"] = Field(description="What the plugin is.")
    language: Literal["python", "typescript", "javascript"] = Field(
        description="python: entry is a .py module; typescript/javascript: entry is the built .js file."
    )
    entry: str = Field(
        min_length=1,
        description="Path inside the plugin folder: a .py module or the built .js file (./dist/index.js).",
    )
    config_schema: str | None = Field(
        default=None,
        alias="configSchema",
        min_length=1,
        description="Path inside the plugin folder to a JSON Schema (draft 2020-12) for the plugin's config.",
    )
    dependencies: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list,
        description="Names of other plugins this one needs; missing ones fail validation.",
    )
    description: str | None = Field(default=None, description="One line about the plugin.")
    author: str | None = Field(default=None, description="Who wrote it.")
    indicators: Annotated[dict[str, dict[str, Any]] | None, WithJsonSchema(INDICATORS_SCHEMA)] = Field(
        default=None,
        description="Indicators the strategy reads: {name: {type, period, ...}}, merged under the run's.",
    )

    @field_validator("indicators")
    @classmethod
    def _indicators_valid(cls, value: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        try:
            parse_indicators(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


MANIFEST_KEYS: tuple[str, ...] = tuple((f.alias or n) for n, f in PluginManifest.model_fields.items())


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of `plugin.json`, as committed in `protocol/plugin.schema.json`."""
    schema = PluginManifest.model_json_schema(by_alias=True, mode="validation")
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID}
    out.update(schema)
    return out


def render_schema() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=False) + "\n"


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    path.write_text(render_schema(), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- parsing


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def _friendly(err: dict[str, Any]) -> str:
    loc = err.get("loc", ())
    key = str(loc[0]) if loc else ""
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown key '{key}' (allowed keys: {', '.join(MANIFEST_KEYS)})"
    if kind == "missing":
        return f"missing required key '{key}'"
    if kind == "string_pattern_mismatch" and key in ("name", "dependencies"):
        return (
            f"invalid plugin name {json.dumps(err.get('input'))}: use lowercase letters, digits, '.', '_' "
            f"and '-', starting with a letter or digit, at most 64 characters"
        )
    if kind == "string_pattern_mismatch" and key == "version":
        return f"invalid version {json.dumps(err.get('input'))}: use a semantic version such as 1.0.0"
    if kind == "dict_type" and not loc:
        return "plugin.json must hold a JSON object"
    if kind == "value_error":
        return f"'{key}': {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}"
    return f"'{key}': {err.get('msg', 'invalid')}" if key else str(err.get("msg", "invalid"))


def parse_manifest_data(data: Any, *, file: str | None = None) -> tuple[PluginManifest | None, list[Diagnostic]]:
    """Validate already-decoded JSON; every problem becomes one diagnostic."""
    try:
        return PluginManifest.model_validate(data), []
    except ValidationError as exc:
        diags = [
            Diagnostic("error", "manifest-schema", _friendly(dict(e)), file, _pointer(tuple(e["loc"])))
            for e in exc.errors(include_url=False)
        ]
    if isinstance(data, dict) and isinstance(data.get("dependencies"), list):
        deps = data["dependencies"]
        dups = sorted({d for d in deps if isinstance(d, str) and deps.count(d) > 1})
        if dups:
            diags.append(
                Diagnostic(
                    "warning",
                    "manifest-schema",
                    f"dependencies listed twice: {', '.join(dups)}",
                    file,
                    "/dependencies",
                )
            )
    return None, diags


def read_manifest(manifest_path: Path) -> tuple[Any, PluginManifest | None, list[Diagnostic]]:
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
    manifest: PluginManifest, plugin_dir: Path, *, file: str | None = None, root_real: str | None = None
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


def load_manifest(plugin_dir: Path) -> PluginManifest:
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
