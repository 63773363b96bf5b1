"""The SDKs' public surfaces, pinned: what a plugin author imports from `plughost_sdk` and `@plughost/sdk`.
A name added or removed is a decision (docs/python-sdk.md, docs/typescript-sdk.md), not an accident.
(`plughost`'s own root is pinned in test_python_api.py.)"""

from __future__ import annotations

import json
import subprocess
import types
from pathlib import Path

import plughost_sdk
import pytest

REPO = Path(__file__).resolve().parents[2]
SDK_TS = REPO / "sdk-typescript"

PYTHON_SDK = {"Alert", "BacktestResults", "Candle", "CandleBatch", "FeaturePlugin", "History", "Indicators",
              "Position", "Signal", "StrategyContext", "StrategyPlugin", "Trade", "__version__"}
TS_RUNTIME = {"DEFAULT_RULES", "OrderBook", "PROTOCOL_VERSION", "ProtocolError", "SDK_NAME", "SDK_VERSION",
              "SignalError", "entry", "exit", "hold"}
TS_TYPES = {"Alert", "BacktestResults", "Bar", "BatchSignal", "BookTrade", "Candle", "CandleBatch", "CandleColumn",
            "CandleHistory", "FeaturePlugin", "FillAt", "MaybePromise", "OrderSignal", "PluginHooks", "Position",
            "PostRunOutput", "ProtocolErrorKind", "Rules", "RunConfig", "Side", "Signal", "SignalOptions",
            "SignalResult", "SignalType", "SizeMode", "StrategyContext", "StrategyPlugin", "Trade"}

# The TypeScript compiler (a dev dependency) lists what the published declaration file exports.
DECLARED = """
const ts = require('typescript');
const file = process.argv[1];
const program = ts.createProgram([file], {});
const checker = program.getTypeChecker();
const mod = checker.getSymbolAtLocation(program.getSourceFile(file));
process.stdout.write(JSON.stringify(checker.getExportsOfModule(mod).map((s) => s.getName())));
"""


def test_plughost_sdk_exports_exactly_its_public_names() -> None:
    assert set(plughost_sdk.__all__) == PYTHON_SDK
    assert all(hasattr(plughost_sdk, name) for name in plughost_sdk.__all__)
    leaked = {name for name, value in vars(plughost_sdk).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)} - PYTHON_SDK
    assert not leaked, f"public names outside __all__: {sorted(leaked)}"


def _node(*args: str) -> str:
    done = subprocess.run(["node", *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not (SDK_TS / "dist" / "index.js").is_file(), reason="the TypeScript SDK is not built (make setup)")
def test_typescript_sdk_exports_exactly_its_public_names() -> None:
    runtime = json.loads(_node("-e", "process.stdout.write(JSON.stringify(Object.keys(require(process.argv[1]))))",
                               str(SDK_TS / "dist" / "index.js")))
    assert set(runtime) == TS_RUNTIME
    declared = set(json.loads(_node("-e", DECLARED, str(SDK_TS / "dist" / "index.d.ts"))))
    assert declared == TS_RUNTIME | TS_TYPES
