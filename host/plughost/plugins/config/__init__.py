"""The plugin-config manager: files, named configs, environment overrides, schema defaults, validation.

    cfg = resolve_config(entry, {"fast": 5})           # dict, a JSON/TOML path, or a named config
    cfg = resolve_config(entry, name="aggressive")     # <plugin_dir>/configs/aggressive.json|toml
    cfg = default_config(entry)                        # schema defaults only (no validation)

Precedence, lowest first: schema `default`s < named config < the given config < environment overrides
(`PLUGHOST_CFG_<PLUGIN>__<KEY>[__<SUBKEY>...]=<value>`, see `env`).

Validation uses jsonschema Draft 2020-12 and reports every error with its JSON pointer
(`ConfigError.problems`). `$ref`s resolve only to files inside the plugin folder; an `http(s):`/`file:`
(or any other absolute) reference is refused and never fetched.

One job a module, each importing only those below it:
    resolve    the effective config (merge, overrides, defaults, validation)
    schema     a plugin's schema: loading, static checks, validation messages
    refs       `$ref`s confined to the plugin folder; their static check; `$ref` loops
    defaults   schema `default`s filled into a config
    env        environment overrides
    files      config files and the named configs in `configs/`
"""

from __future__ import annotations

from plughost.plugins.config.env import ENV_PREFIX, env_overrides, env_token
from plughost.plugins.config.files import (
    CONFIG_SUFFIXES,
    CONFIGS_DIR,
    find_named_config,
    list_named_configs,
    load_config_file,
)
from plughost.plugins.config.refs import BASE_URI, RefRefused
from plughost.plugins.config.resolve import deep_merge, default_config, resolve_config, validate_config
from plughost.plugins.config.schema import PluginSchema, entry_schema, load_schema, schema_diagnostics

__all__ = [
    "BASE_URI",
    "CONFIGS_DIR",
    "CONFIG_SUFFIXES",
    "ENV_PREFIX",
    "PluginSchema",
    "RefRefused",
    "deep_merge",
    "default_config",
    "entry_schema",
    "env_overrides",
    "env_token",
    "find_named_config",
    "list_named_configs",
    "load_config_file",
    "load_schema",
    "resolve_config",
    "schema_diagnostics",
    "validate_config",
]
