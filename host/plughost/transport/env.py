"""The environment a plugin process gets: an allow-list, never the host's secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Only what programs need to run and to format text; credentials (AWS_*, *_TOKEN, ...) never pass.
ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "TERM",
    "SYSTEMROOT", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
})
ALLOWED_PREFIXES = ("LC_",)


def plugin_environment(
    protocol_vars: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The allow-listed part of `source` (default: os.environ), then `extra` (what the run config
    grants), then the protocol's own variables, which nothing may override."""
    source = os.environ if source is None else source
    env = {k: v for k, v in source.items() if k in ALLOWED or k.startswith(ALLOWED_PREFIXES)}
    env.update(extra or {})
    env.update(protocol_vars)
    return env
