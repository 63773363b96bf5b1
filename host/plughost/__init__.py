"""plughost: a subprocess-isolated, multi-language plugin host for trading backtests.

    import plughost
    res = plughost.run("sma-cross", "prices.parquet", fast=5, slow=30)   # -> plughost.Result
    res.metrics["sharpe"], res.trades.to_pandas()
    batch = plughost.run_batch("sweep.toml", out="sweep-out")            # -> plughost.BatchResult

Every error plughost raises is a `plughost.PlughostError` (see `plughost.errors`). The names below are
imported on first use, so `import plughost` (and the CLI's start) stays fast. See docs/python-api.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "run": "api", "run_batch": "api", "Result": "api", "BatchResult": "api", "RunError": "api",
    "PlughostError": "errors", "UsageError": "errors", "DataError": "errors", "ConfigError": "errors",
    "ManifestError": "errors", "PluginNotFound": "errors", "PluginDisabled": "errors",
    "PluginFailure": "errors", "PluginSpawnFailed": "errors", "PluginStartTimeout": "errors",
    "HandshakeError": "errors", "InterfaceMismatch": "errors", "PluginCrashed": "errors",
    "PluginTimeout": "errors", "PluginProtocolError": "errors", "FrameTooLarge": "errors",
    "PluginError": "errors", "ResourceLimitExceeded": "errors",
    "BatchFileError": "errors", "BatchLocked": "errors",
}

__all__ = [
    "BatchFileError",
    "BatchLocked",
    "BatchResult",
    "ConfigError",
    "DataError",
    "FrameTooLarge",
    "HandshakeError",
    "InterfaceMismatch",
    "ManifestError",
    "PlughostError",
    "PluginCrashed",
    "PluginDisabled",
    "PluginError",
    "PluginFailure",
    "PluginNotFound",
    "PluginProtocolError",
    "PluginSpawnFailed",
    "PluginStartTimeout",
    "PluginTimeout",
    "ResourceLimitExceeded",
    "Result",
    "RunError",
    "UsageError",
    "__version__",
    "run",
    "run_batch",
]

if TYPE_CHECKING:
    from .api import BatchResult, Result, RunError, run, run_batch
    from .errors import (
        BatchFileError,
        BatchLocked,
        ConfigError,
        DataError,
        FrameTooLarge,
        HandshakeError,
        InterfaceMismatch,
        ManifestError,
        PlughostError,
        PluginCrashed,
        PluginDisabled,
        PluginError,
        PluginFailure,
        PluginNotFound,
        PluginProtocolError,
        PluginSpawnFailed,
        PluginStartTimeout,
        PluginTimeout,
        ResourceLimitExceeded,
        UsageError,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plughost' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
