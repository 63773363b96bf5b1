"""The seams of one run, for what is not the run's own business: instrumentation (the batch's start-cost
figures, a bench's in-process strategy) and faults a test injects. Production passes none: the defaults
start plugins as `plughost.plugins.loader` does and publish without a pause.

    hooks = RunHooks(load_plugin=timed(load_plugin), before_publish=kill_here)
    run_backtest(run, registry=reg, out_dir=out, run_id="r1", hooks=hooks)

Nothing in production is patched at run time: whoever wants a different behaviour passes these in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..plugins.loader import load_plugin
from ..plugins.registry import PluginEntry
from ..transport.process import Spawner


class PluginLoader(Protocol):
    """Starts one plugin of the run (the strategy and every feature) and returns its started proxy."""

    def __call__(self, entry: PluginEntry, *, start_timeout: float, call_timeout: float,
                 extra_env: Mapping[str, str] | None, sandbox: bool, spawner: Spawner | None) -> Any: ...


@dataclass(frozen=True)
class RunHooks:
    load_plugin: PluginLoader = load_plugin
    # called with the run's final folder once its files are complete in the temporary folder, just before
    # the rename that publishes them
    before_publish: Callable[[Path], None] | None = None
