"""A plugin's config schema: loaded from inside the plugin folder with a `$ref` registry confined to it,
checked statically (meta-schema, every `$ref`, `$ref` loops), and used to validate a config (jsonschema
Draft 2020-12, every error with its JSON pointer) and fill in its defaults."""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plughost.errors import ConfigError
from plughost.plugins.config.defaults import apply_defaults
from plughost.plugins.config.refs import (
    BASE_URI,
    circular_ref,
    make_retrieve,
    pointer,
    ref_diagnostics,
    ref_reason,
)
from plughost.plugins.manifest import Diagnostic, contained_path
from plughost.safefile import FileLimitError, loads_json, read_text

if TYPE_CHECKING:  # jsonschema and referencing (~37 ms) are imported only when a schema is loaded
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry as RefRegistry

    from plughost.plugins.registry.entry import PluginEntry


@dataclass
class PluginSchema:
    """A plugin's config schema, with a `$ref` registry confined to the plugin folder."""

    schema: dict[str, Any]
    path: Path
    plugin_dir: Path
    plugin: str | None
    root_uri: str
    registry: RefRegistry[Any]

    @property
    def validator(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(
            self.schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def resolver(self) -> Any:
        return self.registry.resolver(base_uri=self.root_uri)

    # ---- validation
    def problems(self, config: Any) -> list[str]:
        """Every validation error as `"<pointer>: <message>"`, sorted by location."""
        from referencing.exceptions import Unresolvable

        out: list[tuple[str, str]] = []
        try:
            errors = list(self.validator.iter_errors(config))
        except Unresolvable as exc:
            raise ConfigError(
                f"plugin '{self.plugin}': config schema {self.path} has an unresolvable $ref: "
                f"{ref_reason(exc)}",
                plugin=self.plugin,
                hint="reference only files inside the plugin folder (relative $ref)",
            ) from None
        for err in errors:
            for at, message in _describe(err):
                out.append((at, message))
        out.sort()
        return [f"{p or '/'}: {m}" for p, m in out]

    def apply_defaults(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        value = copy.deepcopy(dict(config or {}))
        result = apply_defaults(self.schema, value, self.resolver())
        return result if isinstance(result, dict) else value

    # ---- static checks
    def diagnostics(self) -> list[Diagnostic]:
        """Meta-schema errors (all of them) and every `$ref` that is remote or does not resolve."""
        file = str(self.path)
        out = [
            Diagnostic("error", "config-schema", f"not a valid JSON Schema (draft 2020-12): {message}", file, at)
            for message, at in _meta_schema_errors(json.dumps(self.schema, sort_keys=True))
        ]
        if out:  # not a schema: its $refs cannot be followed meaningfully (nor safely)
            return out
        out += self.ref_diagnostics()
        return out

    def ref_diagnostics(self) -> list[Diagnostic]:
        """Every `$ref` that is remote, leaves the folder, or does not resolve (local files followed)."""
        return ref_diagnostics(self.root_uri, self.schema, self.path, self.plugin_dir, self.resolver())


@functools.lru_cache(maxsize=256)
def _meta_schema_errors(schema_json: str) -> tuple[tuple[str, str], ...]:
    """(message, pointer) of each meta-schema error of a schema given as canonical JSON. Cached: a batch
    worker checks the same strategy's schema for every run, and the Draft 2020-12 meta-schema check was
    ~3 ms of a ~25 ms warm run (its `$dynamicRef`s). The `$ref` checks read files and are not cached."""
    from jsonschema import Draft202012Validator

    errors = Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(json.loads(schema_json))
    return tuple((e.message, pointer(e.absolute_path))
                 for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path))))


def load_schema(path: Path, plugin_dir: Path, *, plugin: str | None = None) -> PluginSchema:
    """Read a config schema that lies inside `plugin_dir`. ConfigError when unreadable or not an object."""
    from referencing import Registry as RefRegistry
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    real, why = (
        contained_path(plugin_dir, os.path.relpath(path, plugin_dir))
        if path.is_absolute()
        else (contained_path(plugin_dir, str(path)))
    )
    if real is None:
        raise ConfigError(f"plugin '{plugin}': config schema path {why}", plugin=plugin)
    try:
        schema = loads_json(read_text(real))
    except FileNotFoundError:
        raise ConfigError(
            f"plugin '{plugin}': config schema {real} does not exist",
            plugin=plugin,
            hint="fix `configSchema` in plugin.json",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"plugin '{plugin}': cannot read config schema {real}: {exc}", plugin=plugin
        ) from None
    except FileLimitError as exc:
        raise ConfigError(f"plugin '{plugin}': config schema {real} is {exc}", plugin=plugin) from None
    if not isinstance(schema, dict | bool):
        raise ConfigError(f"plugin '{plugin}': config schema {real} must be a JSON object", plugin=plugin)
    if isinstance(schema, bool):
        schema = {} if schema else {"not": {}}
    root_dir = Path(os.path.realpath(plugin_dir))
    root_uri = BASE_URI + real.relative_to(root_dir).as_posix()
    own_id = schema.get("$id")
    schema = dict(schema)
    schema["$id"] = root_uri
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    registry: RefRegistry[Any] = RefRegistry(retrieve=make_retrieve(root_dir))  # type: ignore[call-arg]
    registry = registry.with_resource(root_uri, resource)
    if isinstance(own_id, str) and own_id and own_id != root_uri:
        registry = registry.with_resource(own_id.split("#", 1)[0], resource)
    with contextlib.suppress(Exception):  # malformed (`"properties": null`, ...): diagnostics() reports it
        registry = registry.crawl()
    ps = PluginSchema(schema, real, root_dir, plugin, root_uri, registry)
    cycle = circular_ref(ps.schema, ps.resolver())
    if cycle is not None:
        raise ConfigError(
            f"plugin '{plugin}': config schema {real} has a circular $ref: {cycle}",
            plugin=plugin,
            hint="a $ref chain (through $ref, allOf, anyOf, oneOf, not, if/then/else) must end in a real "
            "schema; recursion is fine only below properties or items",
        )
    return ps


def entry_schema(entry: PluginEntry) -> PluginSchema | None:
    """The schema of a registry entry, or None when it declares none."""
    if entry.manifest is None or entry.manifest.config_schema is None:
        return None
    return load_schema(Path(entry.manifest.config_schema), entry.path, plugin=entry.name)


def schema_diagnostics(entry: PluginEntry) -> list[Diagnostic]:
    """Static checks of an entry's config schema (the validator's `config-schema` and `config-ref`)."""
    try:
        ps = entry_schema(entry)
    except ConfigError as exc:
        return [Diagnostic("error", "config-schema", exc.message, str(entry.manifest_path), "/configSchema")]
    return ps.diagnostics() if ps else []


def _describe(err: ValidationError) -> list[tuple[str, str]]:
    """A validation error as (pointer, message) pairs: an unknown key names the close and the known keys."""
    at = pointer(err.absolute_path)
    if err.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, dict) else {}
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        known = sorted(props or {})
        patterns = [re.compile(p) for p in (schema.get("patternProperties") or {})]
        extras = [k for k in err.instance if k not in known and not any(p.search(k) for p in patterns)]
        if extras:
            out = []
            for key in extras:
                close = difflib.get_close_matches(key, known, n=1)
                msg = f"unknown key '{key}'"
                if close:
                    msg += f" (did you mean '{close[0]}'?)"
                msg += f"; known keys: {', '.join(known) if known else '(none)'}"
                out.append((f"{at}/{key}", msg))
            return out
    return [(at, err.message)]
