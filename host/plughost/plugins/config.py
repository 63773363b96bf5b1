"""The plugin-config manager: files, named configs, environment overrides, schema defaults, validation.

    cfg = resolve_config(entry, {"fast": 5})           # dict, a JSON/TOML path, or a named config
    cfg = resolve_config(entry, name="aggressive")     # <plugin_dir>/configs/aggressive.json|toml
    cfg = default_config(entry)                        # schema defaults only (no validation)

Precedence, lowest first: schema `default`s < named config < the given config < environment overrides.
Environment overrides: `PLUGHOST_CFG_<PLUGIN>__<KEY>[__<SUBKEY>...]=<value>`, where `<PLUGIN>` is the
plugin's name upper-cased with every non-alphanumeric character replaced by `_` (`sma-cross` ->
`SMA_CROSS`); each key segment matches the schema property whose name normalises the same way (else the
segment lower-cased is used). The value is parsed as JSON when it parses (`5`, `true`, `[1,2]`,
`{"a":1}`), else taken as a string.

Validation uses jsonschema Draft 2020-12 and reports every error with its JSON pointer
(`ConfigError.problems`). `$ref`s resolve only to files inside the plugin folder; an `http(s):`/`file:`
(or any other absolute) reference is refused and never fetched.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import posixpath
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry as RefRegistry
from referencing import Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from plughost.errors import ConfigError
from plughost.plugins.manifest import Diagnostic, contained_path

if TYPE_CHECKING:
    from plughost.plugins.registry import PluginEntry

ENV_PREFIX = "PLUGHOST_CFG_"
CONFIGS_DIR = "configs"
CONFIG_SUFFIXES = (".json", ".toml")
# A base URI that cannot be fetched (.invalid is reserved): relative $refs resolve under it and are
# mapped to files inside the plugin folder; anything else is refused.
BASE_URI = "https://plugin.plughost.invalid/"
_NAMED_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SKIP_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


class RefRefused(Exception):
    """A `$ref` that would leave the plugin folder. Raised by the retrieve function, never fetched."""


def env_token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


# ------------------------------------------------------------------------------------------------ files


def load_config_file(path: str | Path, *, plugin: str | None = None) -> dict[str, Any]:
    """A config object from a `.json` or `.toml` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(
            f"config file {path} must be .json or .toml", plugin=plugin, hint="rename it or convert it"
        )
    try:
        data: Any = (
            tomllib.loads(path.read_text(encoding="utf-8"))
            if suffix == ".toml"
            else json.loads(path.read_text(encoding="utf-8"))
        )
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist", plugin=plugin, hint="check the path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", plugin=plugin) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            plugin=plugin,
            hint="fix the syntax",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}", plugin=plugin, hint="fix the syntax"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold an object (a JSON object or TOML table)", plugin=plugin
        )
    return data


def list_named_configs(plugin_dir: Path) -> list[str]:
    """Names of the configs stored in `<plugin_dir>/configs/`."""
    cdir = plugin_dir / CONFIGS_DIR
    try:
        return sorted({p.stem for p in cdir.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file()})
    except OSError:
        return []


def find_named_config(plugin_dir: Path, name: str, *, plugin: str | None = None) -> Path:
    """`<plugin_dir>/configs/<name>.json` or `.toml`."""
    available = list_named_configs(plugin_dir)
    hint = (
        f"stored configs: {', '.join(available)}"
        if available
        else f"none are stored in {plugin_dir / CONFIGS_DIR}"
    )
    if _NAMED_RE.match(name):
        for suffix in CONFIG_SUFFIXES:
            real, _why = contained_path(plugin_dir, f"{CONFIGS_DIR}/{name}{suffix}")
            if real is not None and real.is_file():
                return real
    close = difflib.get_close_matches(name, available, n=3)
    if close:
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? {hint}"
    raise ConfigError(
        f"plugin '{plugin or plugin_dir.name}' has no named config '{name}'", plugin=plugin, hint=hint
    )


# ------------------------------------------------------------------------------------------------ schema


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
        return Draft202012Validator(
            self.schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def resolver(self) -> Any:
        return self.registry.resolver(base_uri=self.root_uri)

    # ---- validation
    def problems(self, config: Any) -> list[str]:
        """Every validation error as `"<pointer>: <message>"`, sorted by location."""
        out: list[tuple[str, str]] = []
        try:
            errors = list(self.validator.iter_errors(config))
        except Unresolvable as exc:
            raise ConfigError(
                f"plugin '{self.plugin}': config schema {self.path} has an unresolvable $ref: "
                f"{_ref_reason(exc)}",
                plugin=self.plugin,
                hint="reference only files inside the plugin folder (relative $ref)",
            ) from None
        for err in errors:
            for pointer, message in _describe(err):
                out.append((pointer, message))
        out.sort()
        return [f"{p or '/'}: {m}" for p, m in out]

    def apply_defaults(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        value = copy.deepcopy(dict(config or {}))
        result = _apply_defaults(self.schema, value, self.resolver(), 0)
        return result if isinstance(result, dict) else value

    def known_keys(self) -> list[str]:
        props = self.schema.get("properties")
        return sorted(props) if isinstance(props, dict) else []

    # ---- static checks
    def diagnostics(self) -> list[Diagnostic]:
        """Meta-schema errors (all of them) and every `$ref` that is remote or does not resolve."""
        file = str(self.path)
        out = [
            Diagnostic(
                "error",
                "config-schema",
                f"not a valid JSON Schema (draft 2020-12): {e.message}",
                file,
                _pointer(e.absolute_path),
            )
            for e in sorted(
                Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(self.schema),
                key=lambda e: list(map(str, e.absolute_path)),
            )
        ]
        out += self.ref_diagnostics()
        return out

    def ref_diagnostics(self) -> list[Diagnostic]:
        """Every `$ref` that is remote, leaves the folder, or does not resolve (local files followed)."""
        out: list[Diagnostic] = []
        queue: list[tuple[str, Any, str]] = [(self.root_uri, self.schema, str(self.path))]
        done: set[str] = set()
        resolver = self.resolver()
        while queue:
            doc_uri, doc, file = queue.pop()
            if doc_uri in done:
                continue
            done.add(doc_uri)
            for pointer, ref, base in _iter_refs(doc, doc_uri):
                target = urljoin(base, ref)
                doc_part = target.split("#", 1)[0]
                why = _refusal(ref, target)
                if why is None:
                    ref_path = unquote(urlsplit(ref).path)
                    base_path = unquote(urlsplit(base).path).lstrip("/")
                    if ref_path and not ref_path.startswith("/"):
                        joined = posixpath.normpath(posixpath.join(posixpath.dirname(base_path), ref_path))
                        if joined.startswith(".."):
                            why = f"$ref {ref!r} leaves the plugin folder; refused"
                if why is not None:
                    out.append(Diagnostic("error", "config-ref", why, file, pointer))
                    continue
                try:
                    resolver.lookup(target)
                    whole = resolver.lookup(doc_part).contents if doc_part not in done else None
                except Unresolvable as exc:
                    out.append(
                        Diagnostic(
                            "error",
                            "config-ref",
                            f"$ref {ref!r} does not resolve: {_ref_reason(exc)}",
                            file,
                            pointer,
                        )
                    )
                    continue
                if whole is not None:
                    rel = unquote(urlsplit(doc_part).path).lstrip("/")
                    queue.append((doc_part, whole, str(self.plugin_dir / rel)))
        return out


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _refusal(ref: str, target: str) -> str | None:
    scheme = urlsplit(ref).scheme.lower()
    if scheme in ("http", "https") and not target.startswith(BASE_URI):
        return f"remote $ref {ref!r} refused: plughost never fetches schemas; copy it into the plugin folder"
    if scheme == "file":
        return f"file: $ref {ref!r} refused: use a path relative to the schema, inside the plugin folder"
    if not target.startswith(BASE_URI):
        return (
            f"$ref {ref!r} resolves to {target!r}, outside the plugin folder; refused "
            f"(a schema `$id` with an absolute URL makes relative refs remote: remove it)"
        )
    return None


def _ref_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefRefused):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return str(exc)


def _iter_refs(node: Any, base: str, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str, str]]:
    """(pointer, $ref, base URI) for every `$ref`/`$dynamicRef` in a schema document."""
    if isinstance(node, dict):
        if isinstance(node.get("$id"), str) and path:
            base = urljoin(base, node["$id"])
        for key in ("$ref", "$dynamicRef"):
            if isinstance(node.get(key), str):
                yield _pointer((*path, key)), node[key], base
        for key, value in node.items():
            if key in _SKIP_KEYWORDS:
                continue
            if key in (
                "properties",
                "patternProperties",
                "$defs",
                "definitions",
                "dependentSchemas",
            ) and isinstance(value, dict):
                for k, v in value.items():
                    yield from _iter_refs(v, base, (*path, key, k))
            elif isinstance(value, dict | list):
                yield from _iter_refs(value, base, (*path, key))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _iter_refs(v, base, (*path, str(i)))


def _make_retrieve(plugin_dir: Path) -> Any:
    def retrieve(uri: str) -> Resource[Any]:
        if not uri.startswith(BASE_URI):
            raise RefRefused(
                f"$ref to {uri!r} refused: only files inside the plugin folder can be referenced "
                f"(remote and file: references are never fetched)"
            )
        rel = unquote(urlsplit(uri).path).lstrip("/")
        real, why = contained_path(plugin_dir, rel)
        if real is None:
            raise RefRefused(f"$ref to {rel!r} refused: it {why}")
        try:
            contents = json.loads(real.read_text(encoding="utf-8"))
        except FileNotFoundError:
            missing = RefRefused(f"{rel} does not exist in the plugin folder")
            raise NoSuchResource(ref=uri) from missing  # type: ignore[call-arg]
        except (OSError, ValueError) as exc:
            raise RefRefused(f"{rel} is not readable JSON: {exc}") from None
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return retrieve


def load_schema(path: Path, plugin_dir: Path, *, plugin: str | None = None) -> PluginSchema:
    """Read a config schema that lies inside `plugin_dir`. ConfigError when unreadable or not an object."""
    real, why = (
        contained_path(plugin_dir, os.path.relpath(path, plugin_dir))
        if path.is_absolute()
        else (contained_path(plugin_dir, str(path)))
    )
    if real is None:
        raise ConfigError(f"plugin '{plugin}': config schema path {why}", plugin=plugin)
    try:
        schema = json.loads(real.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"plugin '{plugin}': config schema {real} does not exist",
            plugin=plugin,
            hint="fix `configSchema` in plugin.json",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"plugin '{plugin}': cannot read config schema {real}: {exc}", plugin=plugin
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"plugin '{plugin}': config schema {real} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})",
            plugin=plugin,
        ) from None
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
    registry: RefRegistry[Any] = RefRegistry(retrieve=_make_retrieve(root_dir))  # type: ignore[call-arg]
    registry = registry.with_resource(root_uri, resource)
    if isinstance(own_id, str) and own_id and own_id != root_uri:
        registry = registry.with_resource(own_id.split("#", 1)[0], resource)
    registry = registry.crawl()
    return PluginSchema(schema, real, root_dir, plugin, root_uri, registry)


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


# ------------------------------------------------------------------------------------- error messages


def _describe(err: ValidationError) -> list[tuple[str, str]]:
    pointer = _pointer(err.absolute_path)
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
                out.append((f"{pointer}/{key}", msg))
            return out
    return [(pointer, err.message)]


# ------------------------------------------------------------------------------------------- defaults

_MISSING = object()


def _lookup(node: dict[str, Any], resolver: Any) -> tuple[dict[str, Any], Any] | None:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return None
    try:
        resolved = resolver.lookup(ref)
    except Unresolvable:
        return None
    return (resolved.contents, resolved.resolver) if isinstance(resolved.contents, dict) else None


def _default_of(node: dict[str, Any], resolver: Any, depth: int) -> Any:
    if "default" in node:
        return node["default"]
    target = _lookup(node, resolver) if depth < 32 else None
    if target is not None:
        return _default_of(target[0], target[1], depth + 1)
    return _MISSING


def _apply_defaults(node: Any, value: Any, resolver: Any, depth: int) -> Any:
    if depth > 32 or not isinstance(node, dict):
        return value
    target = _lookup(node, resolver)
    if target is not None:
        value = _apply_defaults(target[0], value, target[1], depth + 1)
    for sub in node.get("allOf") or []:
        value = _apply_defaults(sub, value, resolver, depth + 1)
    if isinstance(value, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                if not isinstance(sub, dict):
                    continue
                if key in value:
                    value[key] = _apply_defaults(sub, value[key], resolver, depth + 1)
                    continue
                default = _default_of(sub, resolver, 0)
                if default is not _MISSING:
                    value[key] = _apply_defaults(sub, copy.deepcopy(default), resolver, depth + 1)
                else:
                    filled = (
                        _apply_defaults(sub, {}, resolver, depth + 1) if _is_object(sub, resolver) else {}
                    )
                    if filled:
                        value[key] = filled
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        value = [_apply_defaults(node["items"], v, resolver, depth + 1) for v in value]
    return value


def _is_object(node: dict[str, Any], resolver: Any) -> bool:
    if node.get("type") == "object" or "properties" in node:
        return True
    target = _lookup(node, resolver)
    return target is not None and _is_object(target[0], target[1])


# -------------------------------------------------------------------------------------- env overrides


def env_overrides(
    plugin: str, env: Mapping[str, str] | None = None, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The nested override dict from `PLUGHOST_CFG_<PLUGIN>__<KEY>[__<SUBKEY>]` variables."""
    return _env_overrides(plugin, env, schema)[0]


def _env_overrides(
    plugin: str, env: Mapping[str, str] | None, schema: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The overrides, and the variable that set each (by the JSON pointer of the value it set)."""
    env = os.environ if env is None else env
    prefix = f"{ENV_PREFIX}{env_token(plugin)}__"
    out: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for var in sorted(env):
        if not var.startswith(prefix) or len(var) == len(prefix):
            continue
        segments = [s for s in var[len(prefix) :].split("__")]
        if any(not s for s in segments):
            continue
        raw = env[var]
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node: Any = schema
        target = out
        pointer = ""
        for i, seg in enumerate(segments):
            key = seg.lower()
            props = node.get("properties") if isinstance(node, Mapping) else None
            if isinstance(props, Mapping):
                for name in props:
                    if env_token(name) == seg.upper():
                        key = name
                        break
                node = props.get(key)
            else:
                node = None
            pointer += "/" + key
            if i == len(segments) - 1:
                target[key] = value
                sources[pointer] = var
            else:
                nxt = target.get(key)
                if not isinstance(nxt, dict):
                    nxt = target[key] = {}
                target = nxt
    return out, sources


def _name_variables(problems: list[str], sources: Mapping[str, str]) -> list[str]:
    """Each problem caused by an environment override, with the variable named (the user did not write
    that value in any file, so a pointer alone would send them looking in the wrong place)."""
    out = []
    for problem in problems:
        pointer = problem.split(": ", 1)[0]
        for at, var in sources.items():
            parent, _, key = at.rpartition("/")
            if (pointer == at or pointer.startswith(at + "/")
                    or (pointer == (parent or "/") and f"'{key}'" in problem)):  # an unknown key at its parent
                problem += f" (set by environment variable {var})"
                break
        out.append(problem)
    return out


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ------------------------------------------------------------------------------------------ the API


def default_config(entry: PluginEntry) -> dict[str, Any]:
    """Schema defaults only (what the validator's trial run initializes with). No validation."""
    ps = entry_schema(entry)
    return ps.apply_defaults({}) if ps else {}


def resolve_config(
    entry: PluginEntry,
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> dict[str, Any]:
    """The effective config of a plugin: merged, env-overridden, defaulted and validated.

    `config` is a dict, or a path to a `.json`/`.toml` file (relative to `base_dir`, default the current
    directory), or, when no such file exists and it is a bare word, the name of a stored config.
    Raises `ConfigError` with every problem in `.problems`.
    """
    plugin = entry.name
    ps = entry_schema(entry)
    merged: dict[str, Any] = {}
    if name is not None:
        merged = load_config_file(find_named_config(entry.path, name, plugin=plugin), plugin=plugin)
    if isinstance(config, Mapping):
        merged = deep_merge(merged, config)
    elif config is not None:
        path = Path(config)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if (
            not path.exists()
            and _NAMED_RE.match(str(config))
            and Path(str(config)).suffix not in CONFIG_SUFFIXES
        ):
            path = find_named_config(entry.path, str(config), plugin=plugin)
        merged = deep_merge(merged, load_config_file(path, plugin=plugin))
    overrides, sources = _env_overrides(plugin, env, ps.schema if ps else None)
    merged = deep_merge(merged, overrides)
    if ps is None:
        return merged
    ref_errors = [d for d in ps.ref_diagnostics() if d.is_error]
    if ref_errors:
        raise ConfigError(
            f"plugin '{plugin}': its config schema has references plughost refuses",
            plugin=plugin,
            problems=[str(d) for d in ref_errors],
            hint="use only relative $refs to files inside the plugin folder",
        )
    effective = ps.apply_defaults(merged)
    problems = _name_variables(ps.problems(effective), sources)
    if problems:
        from_env = sorted({var for var in sources.values() if any(var in p for p in problems)})
        raise ConfigError(
            f"plugin '{plugin}': config is invalid "
            f"({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n"
            + "\n".join(f"  - {p}" for p in problems),
            plugin=plugin,
            problems=problems,
            hint=(f"fix or unset {', '.join(from_env)}; " if from_env else "fix the config; ")
            + f"the schema is {ps.path}",
        )
    return effective


def validate_config(entry: PluginEntry, config: Mapping[str, Any]) -> list[str]:
    """Problems of an already-merged config (defaults applied first). Empty when valid."""
    ps = entry_schema(entry)
    return ps.problems(ps.apply_defaults(config)) if ps else []
