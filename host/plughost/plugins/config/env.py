"""Environment overrides of a plugin's config: `PLUGHOST_CFG_<PLUGIN>__<KEY>[__<SUBKEY>...]=<value>`.

`<PLUGIN>` is the plugin's name upper-cased with every non-alphanumeric character replaced by `_`
(`sma-cross` -> `SMA_CROSS`); each key segment matches the schema property whose name normalises the same
way (else the segment lower-cased is used). The value is parsed as JSON when it parses (`5`, `true`,
`[1,2]`, `{"a":1}`), else taken as a string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from plughost.errors import ConfigError
from plughost.safefile import FileLimitError, loads_json

ENV_PREFIX = "PLUGHOST_CFG_"


def env_token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def env_overrides(
    plugin: str, env: Mapping[str, str] | None = None, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The nested override dict from `PLUGHOST_CFG_<PLUGIN>__<KEY>[__<SUBKEY>]` variables."""
    return env_overrides_with_sources(plugin, env, schema)[0]


def env_overrides_with_sources(
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
            value: Any = loads_json(raw)
        except FileLimitError as exc:
            if _looks_structured(raw):  # meant as JSON but out of bounds: refuse, never pass it on
                raise ConfigError(f"environment variable {var}: {exc}", plugin=plugin,
                                  hint="integers must be below 2^63 and nesting at most 64 levels") from None
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


def name_variables(problems: list[str], sources: Mapping[str, str]) -> list[str]:
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


def _looks_structured(raw: str) -> bool:
    """A value that parses as a number or a JSON document except for a limit (too deep, too large)."""
    text = raw.strip()
    return bool(text) and (text[0] in "[{" or bool(re.fullmatch(r"-?\d+", text)))
