"""Start a registry entry's plugin process and check that it is the plugin its manifest describes.

    proxy = load_plugin(entry, start_timeout=10.0, call_timeout=30.0)   # StrategyProxy / FeatureProxy
    with proxy: ...

Everything static is checked before anything is spawned (`preflight`): a broken manifest, an `entry`
that leaves the plugin folder, a missing entry file (for TypeScript: "run `npm run build`"). After the
handshake, `check_hello` compares the name/version/type the plugin reports with its manifest and checks
the interface: a strategy needs `on_candle` or `on_batch`; a feature at least one hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plughost.errors import HandshakeError, InterfaceMismatch, PluginSpawnFailed
from plughost.plugins.manifest import contained_path
from plughost.protocol.methods import Hook

if TYPE_CHECKING:
    from plughost.plugins.registry import PluginEntry
    from plughost.transport.process import Spawner

STRATEGY_METHODS = frozenset({Hook.ON_CANDLE, Hook.ON_BATCH})
FEATURE_HOOKS = frozenset({Hook.ON_PRE_RUN, Hook.ON_POST_RUN, Hook.ON_TRADE, Hook.ON_CANDLE})
_TS_SPELLING = {
    "on_candle": "onCandle",
    "on_batch": "onBatch",
    "on_pre_run": "hooks.onPreRun",
    "on_post_run": "hooks.onPostRun",
    "on_trade": "hooks.onTrade",
}


def preflight(entry: PluginEntry) -> Path:
    """Static checks before spawning. Returns the entry file's real path.

    Raises `ManifestError` for an invalid manifest or a path escape, `PluginSpawnFailed` for a missing
    entry file (with `npm run build` advice for TypeScript).
    """
    manifest = entry.manifest
    if manifest is None or any(
        d.is_error and d.check in ("manifest-json", "manifest-schema", "path-escape") for d in entry.diagnostics
    ):
        raise entry.invalid_error()
    real, _why = contained_path(entry.path, manifest.entry)
    if real is None:
        raise entry.invalid_error()
    if not real.is_file():
        if manifest.language == "typescript":
            raise PluginSpawnFailed(
                f"plugin '{entry.name}': built entry {manifest.entry!r} does not exist in {entry.path}",
                plugin=entry.name,
                hint=f"build it first: `cd {entry.path} && npm install && npm run build`",
            )
        raise PluginSpawnFailed(
            f"plugin '{entry.name}': entry file {manifest.entry!r} does not exist in {entry.path}",
            plugin=entry.name,
            hint=f"fix `entry` in {entry.manifest_path}"
            + (" or build the plugin (`npm run build`)" if manifest.language == "javascript" else ""),
        )
    return real


def build_launch_spec(entry: PluginEntry, extra_env: Mapping[str, str] | None = None, sandbox: bool = False) -> Any:
    """The proxy layer's `LaunchSpec` for this entry (after `preflight`)."""
    from plughost.transport.process import LaunchSpec

    real = preflight(entry)
    assert entry.manifest is not None
    return LaunchSpec(
        name=entry.name,
        plugin_type=entry.manifest.type,
        language=entry.manifest.language,
        entry=real,
        plugin_dir=entry.path.resolve(),
        extra_env=dict(extra_env or {}),
        sandbox=sandbox,
    )


def _spell(method: str, language: str | None) -> str:
    if language in ("typescript", "javascript"):
        return _TS_SPELLING.get(method, method)
    return method


def check_interface(entry: PluginEntry, methods: Iterable[str]) -> None:
    """InterfaceMismatch when the reported methods do not make a usable plugin of the manifest's type."""
    assert entry.manifest is not None
    have = set(methods)
    lang = entry.manifest.language
    if entry.manifest.type == "strategy" and not have & STRATEGY_METHODS:
        raise InterfaceMismatch(
            f"strategy '{entry.name}' implements neither {_spell('on_candle', lang)} nor "
            f"{_spell('on_batch', lang)} (it reports: {', '.join(sorted(have)) or 'nothing'})",
            plugin=entry.name,
            hint=f"define {_spell('on_candle', lang)}(candle, ctx) in {entry.manifest.entry}",
        )
    if entry.manifest.type == "feature" and not have & FEATURE_HOOKS:
        hooks = ", ".join(_spell(h, lang) for h in sorted(FEATURE_HOOKS))
        raise InterfaceMismatch(
            f"feature '{entry.name}' implements no hook (expected at least one of {hooks})",
            plugin=entry.name,
            hint=f"define a hook in {entry.manifest.entry}",
        )


def check_hello(entry: PluginEntry, hello: Any) -> None:
    """HandshakeError when the reported name/version/type differ from the manifest; then the interface."""
    manifest = entry.manifest
    assert manifest is not None
    mismatches = []
    for field, want in (("name", manifest.name), ("version", manifest.version), ("plugin_type", manifest.type)):
        got = getattr(hello, field, None)
        if got is not None and got != want:
            label = "type" if field == "plugin_type" else field
            mismatches.append(f"{label} {got!r} (plugin.json says {want!r})")
    if mismatches:
        raise HandshakeError(
            f"plugin '{entry.name}' reports " + ", ".join(mismatches),
            plugin=entry.name,
            hint=f"make the plugin's code and {entry.manifest_path} agree",
        )
    check_interface(entry, getattr(hello, "methods", ()) or ())


def load_plugin(
    entry: PluginEntry,
    *,
    start_timeout: float = 10.0,
    call_timeout: float = 30.0,
    extra_env: Mapping[str, str] | None = None,
    sandbox: bool = False,
    spawner: Spawner | None = None,
) -> Any:
    """Spawn (cold unless a `spawner` says otherwise), handshake and check one plugin. Returns a started
    proxy; the caller closes it."""
    from plughost.client.proxies import start_plugin
    from plughost.transport.process import COLD

    spec = build_launch_spec(entry, extra_env, sandbox)
    proxy = start_plugin(spec, start_timeout=start_timeout, call_timeout=call_timeout, spawner=spawner or COLD)
    try:
        check_hello(entry, proxy.hello)
    except BaseException:
        proxy.close()
        raise
    return proxy
