"""`plughost validate-plugin`: every problem of one plugin, not just the first.

    report = validate_plugin("sma-cross", roots=[Path("plugins")])     # or a plugin folder path
    report.ok, report.diagnostics, report.to_dict()

Checks, in order (later ones are skipped, with an `info` diagnostic, when earlier ones make them moot):
  manifest-json / manifest-schema   plugin.json parses and matches protocol/plugin.schema.json
  path-escape / entry-missing       entry and configSchema stay inside the folder (nothing is spawned otherwise)
  duplicate-name / dependencies     the name is unique; declared dependencies are discovered
  config-schema / config-ref        the schema is valid draft 2020-12; every $ref is local and resolves
  default-config                    the schema's defaults alone make a valid config
  interface / handshake             the plugin starts, says hello, matches its manifest, implements its type
  trial-run                         initialize + 200 synthetic candles under short timeouts (start 10 s,
                                    call 5 s): a crash, hang or malformed signal is reported with its code.
                                    A strategy's declared `indicators` (plugin.json) ride along, computed
                                    as a run computes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from plughost.errors import (
    ConfigError,
    HandshakeError,
    InterfaceMismatch,
    PlughostError,
    PluginError,
    PluginFailure,
    PluginLoadFailed,
    PluginProtocolError,
    PluginSpawnFailed,
    PluginStartTimeout,
)
from plughost.indicators.spec import parse_indicators
from plughost.indicators.stream import compute_indicators
from plughost.plugins.config import entry_schema
from plughost.plugins.loader import load_plugin
from plughost.plugins.manifest import MANIFEST_FILE, Diagnostic
from plughost.plugins.registry import PluginEntry, Registry, check_dependencies, scan_single
from plughost.protocol.methods import Hook
from plughost.transport.process import Spawner

TRIAL_CANDLES = 200
TRIAL_BATCH = 100
TRIAL_SYMBOL = "TRIAL"
_STATIC_BLOCKERS = ("manifest-json", "manifest-schema", "path-escape", "entry-missing")


@dataclass
class ValidationReport:
    target: str
    plugin: str | None
    path: Path | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # the checks that ran
    spawned: bool = False

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "plugin": self.plugin,
            "path": str(self.path) if self.path else None,
            "valid": self.ok,
            "errors": len(self.errors),
            "warnings": sum(d.severity == "warning" for d in self.diagnostics),
            "checks": self.checks,
            "spawned": self.spawned,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


def _is_plugin_path(target: str) -> Path | None:
    p = Path(target).expanduser()
    if p.name == MANIFEST_FILE and p.is_file():
        return p.parent
    if p.is_dir() and (p / MANIFEST_FILE).is_file():
        return p
    if os.sep in target or target.startswith("."):
        return p  # clearly meant as a path: let it fail as one
    return None


def resolve_target(target: str, registry: Registry) -> PluginEntry:
    """A plugin folder path, or a name looked up in the registry (PluginNotFound otherwise)."""
    path = _is_plugin_path(target)
    if path is None:
        return registry.lookup(target)
    if not (path / MANIFEST_FILE).is_file():
        from plughost.errors import UsageError

        raise UsageError(
            f"{target} is not a plugin folder (no {MANIFEST_FILE} in it)",
            hint="pass a plugin's folder or its name (`plughost list-plugins` shows the names)",
        )
    real = os.path.realpath(path)
    for e in registry.list():
        if os.path.realpath(e.path) == real:
            return e
    entry = scan_single(path)
    check_dependencies(entry, set(registry.names()), ", ".join(str(r) for r in registry.roots))
    return entry


def synthetic_batches(n: int = TRIAL_CANDLES, batch: int = TRIAL_BATCH, symbol: str = TRIAL_SYMBOL,
                      indicators: Mapping[str, Any] | None = None) -> list[Any]:
    """A deterministic random-walk candle series, cut into `CandleBatch`es, with the `indicators`
    (a run config's or plugin.json's `indicators` object) computed over it."""
    from plughost.protocol.messages import CandleBatch

    rng = np.random.default_rng(1234)
    ts = (1_700_000_000_000 + 60_000 * np.arange(n)).astype(np.int64)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.004, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.uniform(100.0, 1000.0, n)
    values = compute_indicators(parse_indicators(indicators), high, low, close)
    out = []
    for start in range(0, n, batch):
        end = min(n, start + batch)
        out.append(
            CandleBatch(
                symbols=[symbol],
                offset=start,
                timestamp=np.ascontiguousarray(ts[start:end]),
                open=np.ascontiguousarray(open_[start:end]),
                high=np.ascontiguousarray(high[start:end]),
                low=np.ascontiguousarray(low[start:end]),
                close=np.ascontiguousarray(close[start:end]),
                volume=np.ascontiguousarray(volume[start:end]),
                symbol=np.zeros(end - start, np.int32),
                ends=[end - start - 1] if end == n else [],
                indicators={k: np.ascontiguousarray(v[start:end]) for k, v in values.items()},
                alerts=[],
                last=end == n,
            )
        )
    return out


def _failure(check: str, exc: PlughostError, file: str | None) -> Diagnostic:
    if isinstance(exc, PluginLoadFailed) and exc.file:
        file = f"{exc.file}:{exc.line}" if exc.line else exc.file  # the author's line, not plugin.json
    return Diagnostic("error", check, str(exc), file, None, exc.code)


def validate_entry(
    entry: PluginEntry,
    *,
    target: str | None = None,
    trial: bool = True,
    start_timeout: float = 10.0,
    call_timeout: float = 5.0,
    candles: int = TRIAL_CANDLES,
    spawner: Spawner | None = None,
) -> ValidationReport:
    """`spawner` starts the plugin for the spawned checks (cold unless given; a test passes one that
    refuses, to show that nothing is spawned for a plugin with static errors)."""
    report = ValidationReport(target or str(entry.path), entry.name, entry.path, list(entry.diagnostics))
    report.checks += ["manifest", "paths", "duplicates", "dependencies"]
    diags = report.diagnostics
    manifest = entry.manifest
    if manifest is None:
        diags.append(Diagnostic("info", "skipped", "further checks skipped: plugin.json is unusable"))
        return report
    if not entry.enabled:
        diags.append(
            Diagnostic("info", "state", f"plugin is disabled (`plughost enable-plugin {entry.name}` to run it)")
        )

    # ---- config schema and default config (static)
    default_cfg: dict[str, Any] | None = {}
    if manifest.config_schema is not None and not any(d.check == "path-escape" for d in diags):
        report.checks += ["config-schema", "default-config"]
        try:
            ps = entry_schema(entry)
        except ConfigError as exc:
            diags.append(Diagnostic("error", "config-schema", exc.message, str(entry.manifest_path), "/configSchema"))
            ps, default_cfg = None, None
        if ps is not None:
            schema_diags = ps.diagnostics()
            diags.extend(schema_diags)
            if any(d.is_error for d in schema_diags):
                default_cfg = None
            else:
                default_cfg = ps.apply_defaults({})
                for problem in ps.problems(default_cfg):
                    pointer, _, message = problem.partition(": ")
                    diags.append(
                        Diagnostic(
                            "error",
                            "default-config",
                            f"the default config (schema defaults only) is invalid: {message}; add a `default` "
                            f"or make the key optional",
                            str(ps.path),
                            pointer if pointer != "/" else "",
                        )
                    )
                    default_cfg = None
    elif manifest.config_schema is not None:
        default_cfg = None

    # ---- spawned checks
    blockers = [d for d in diags if d.is_error and d.check in _STATIC_BLOCKERS]
    if blockers:
        diags.append(
            Diagnostic(
                "info",
                "skipped",
                "interface check and trial run skipped: nothing is spawned for a plugin with manifest or path errors",
            )
        )
        return report
    if not trial:
        return report
    report.checks.append("interface")
    file = str(entry.manifest_path)
    try:
        proxy = load_plugin(entry, start_timeout=start_timeout, call_timeout=call_timeout, spawner=spawner)
    except (HandshakeError, InterfaceMismatch, PluginStartTimeout) as exc:
        report.spawned = True
        diags.append(_failure("interface", exc, file))
        return report
    except PluginFailure as exc:
        report.spawned = not isinstance(exc, PluginSpawnFailed)
        diags.append(_failure("interface", exc, file))
        return report
    report.spawned = True
    try:
        if default_cfg is None:
            diags.append(Diagnostic("info", "skipped", "trial run skipped: no valid default config"))
            return report
        report.checks.append("trial-run")
        try:
            _trial(entry, proxy, default_cfg, candles, diags)
        except PluginFailure as exc:
            diags.append(_failure("trial-run", exc, file))
    finally:
        try:
            proxy.close()
        except PlughostError:
            proxy.kill()
    return report


def _trial(entry: PluginEntry, proxy: Any, config: dict[str, Any], candles: int, diags: list[Diagnostic]) -> None:
    declared = entry.manifest.indicators if entry.manifest is not None and entry.type == "strategy" else None
    batches = synthetic_batches(candles, indicators=declared)
    proxy.initialize(config, f"validate-{entry.name}", history=200, size=1.0, symbols=[TRIAL_SYMBOL])
    if entry.type == "strategy":
        for batch in batches:
            result = proxy.run_batch(batch)
            for sig in result.signals:
                if sig.type not in ("entry", "exit") or not 0 <= sig.at <= len(batch):
                    diags.append(
                        Diagnostic(
                            "error",
                            "trial-run",
                            f"plugin '{entry.name}' returned a malformed signal {sig!r}",
                            str(entry.manifest_path),
                            None,
                            PluginProtocolError.code,
                        )
                    )
                    return
        return
    methods = set(proxy.hello.methods)
    if Hook.ON_PRE_RUN in methods:
        proxy.pre_run({"strategy": "validate-trial", "config": {}, "candles": "synthetic"})
    if Hook.ON_CANDLE in methods:
        for batch in batches:
            proxy.send_candles(batch)
    if Hook.ON_POST_RUN in methods:
        proxy.post_run(
            {
                "run_id": f"validate-{entry.name}",
                "status": "ok",
                "metrics": {"num_trades": 0},
                "trades": {},
                "equity": {"timestamp": [], "equity": []},
                "config": {},
            }
        )
    for err in proxy.take_hook_errors():
        diags.append(
            Diagnostic(
                "error",
                "trial-run",
                f"feature '{entry.name}' hook {err.get('hook')} raised: {err.get('error', {}).get('message')}",
                str(entry.manifest_path),
                None,
                PluginError.code,
            )
        )


def validate_plugin(
    target: str | Path,
    *,
    registry: Registry | None = None,
    roots: Sequence[str | Path] | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    trial: bool = True,
    start_timeout: float = 10.0,
    call_timeout: float = 5.0,
    candles: int = TRIAL_CANDLES,
    spawner: Spawner | None = None,
) -> ValidationReport:
    """Validate a plugin given by name or folder path. PluginNotFound / UsageError when there is none."""
    if registry is None:
        registry = Registry.discover(roots, home=home, env=env)
    entry = resolve_target(str(target), registry)
    return validate_entry(
        entry,
        target=str(target),
        trial=trial,
        start_timeout=start_timeout,
        call_timeout=call_timeout,
        candles=candles,
        spawner=spawner,
    )
