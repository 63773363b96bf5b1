"""`plugin.json` as a pydantic model: the source of its JSON Schema (`protocol/plugin.schema.json`) and of
the diagnostics of a manifest that is not valid.

`plughost.plugins.manifest` parses a valid manifest without this module (pydantic costs ~0.1 s of start-up
in every `plughost run`); it comes here only for a manifest its quick check does not accept, so every
message still comes from this model. A test holds the quick check and the model to the same answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator

from plughost.errors import ConfigError
from plughost.indicators import parse_indicators
from plughost.plugins.manifest import (
    INDICATORS_SCHEMA,
    MANIFEST_KEYS,
    NAME_PATTERN,
    SCHEMA_FILE,
    SCHEMA_ID,
    SEMVER_PATTERN,
    Diagnostic,
    Manifest,
)


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


def validate(data: Any, *, file: str | None = None) -> tuple[Manifest | None, list[Diagnostic]]:
    """`parse_manifest_data` through the model: the manifest, or every problem as one diagnostic."""
    try:
        return Manifest(**PluginManifest.model_validate(data).model_dump()), []
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
