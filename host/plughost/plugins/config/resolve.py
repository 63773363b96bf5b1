"""A plugin's effective config: schema defaults < named config < the given config < environment
overrides, then validated against the plugin's schema."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plughost.errors import ConfigError
from plughost.plugins.config.env import env_overrides_with_sources, name_variables
from plughost.plugins.config.files import find_named_config, is_config_name, load_config_file
from plughost.plugins.config.schema import entry_schema

if TYPE_CHECKING:
    from plughost.plugins.registry.entry import PluginEntry


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
        if not path.exists() and is_config_name(config):
            path = find_named_config(entry.path, str(config), plugin=plugin)
        merged = deep_merge(merged, load_config_file(path, plugin=plugin))
    overrides, sources = env_overrides_with_sources(plugin, env, ps.schema if ps else None)
    merged = deep_merge(merged, overrides)
    if ps is None:
        return merged
    ref_errors = [d for d in ps.diagnostics() if d.is_error]  # meta-schema and $ref problems
    if ref_errors:
        raise ConfigError(
            f"plugin '{plugin}': its config schema is not usable (see `plughost validate-plugin`)",
            plugin=plugin,
            problems=[str(d) for d in ref_errors],
            hint="use only relative $refs to files inside the plugin folder",
        )
    effective = ps.apply_defaults(merged)
    problems = name_variables(ps.problems(effective), sources)
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
