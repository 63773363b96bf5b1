"""Fixtures for the plugin-author tests: scaffolds in tmp_path, the CLI in-process or as a subprocess."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from plughost.cli import main
from plughost.cli.scaffold import create_plugin

REPO = Path(__file__).resolve().parents[2]
CANDLES = REPO / "data" / "sample" / "BTCUSD-1m.parquet"
VENV_BIN = REPO / ".venv" / "bin"

Cli = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """cli(*args, cwd=...) runs `plughost ARGS` in-process; stdout and stderr stay apart."""

    def run(*args: str | Path, cwd: Path | None = None) -> Result:
        monkeypatch.chdir(cwd or tmp_path)
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture
def scaffold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """scaffold(name, type=..., language=...) -> the new plugin folder, under tmp_path/plugins-dev."""

    def make(name: str, type: str = "strategy", language: str = "python") -> Path:
        monkeypatch.chdir(tmp_path)
        parent = tmp_path / "plugins-dev"
        parent.mkdir(exist_ok=True)
        return create_plugin(name, type, language, parent).target

    return make


def node_toolchain() -> tuple[str, Path] | None:
    """(node, tsc) when Node.js and the repo's built TypeScript SDK are available."""
    node = shutil.which("node")
    tsc = REPO / "node_modules" / ".bin" / "tsc"
    if node is None or not tsc.exists() or not (REPO / "sdk-typescript" / "dist" / "index.d.ts").is_file():
        return None
    return node, tsc


def build_typescript(plugin: Path) -> None:
    """What `npm install && npm run build` does for a scaffold outside the workspace, offline: link the
    SDK into node_modules (npm links a `file:` dependency the same way), then compile with tsc."""
    toolchain = node_toolchain()
    if toolchain is None:
        pytest.skip("needs node and the built TypeScript SDK (`make setup`)")
    link = plugin / "node_modules" / "@plughost" / "sdk"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(REPO / "sdk-typescript", target_is_directory=True)
    done = subprocess.run([str(toolchain[1]), "-p", "tsconfig.json"], cwd=plugin, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# The TypeScript plugin these tests break, written here so that they do not depend on the scaffold's body.
MINIMAL_TS = """import type { Candle, Signal, StrategyContext, StrategyPlugin } from '@plughost/sdk';

export default class Probe implements StrategyPlugin {
  name = 'probe';
  version = '0.1.0';

  onCandle(candle: Candle, ctx: StrategyContext): Signal | null {
    const h = ctx.history;
    if (h.length < 2 || candle.close < 0) return null;
    return null;
  }
}
"""


def typescript_probe(scaffold: Callable[..., Path]) -> Path:
    """A scaffolded TypeScript strategy with a minimal body the tests then break on purpose."""
    plugin = scaffold("probe", language="typescript")
    (plugin / "src" / "index.ts").write_text(MINIMAL_TS)
    return plugin


def line_of(path: Path, text: str) -> int:
    """The 1-based line of `path` that contains `text` (what an error should point at)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)
