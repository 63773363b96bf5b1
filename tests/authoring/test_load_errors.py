"""A plugin that cannot be loaded is reported at the author's line: `PLUGIN_LOAD_FAILED`, `file:line` and the
offending source line first, by `plughost run` and `plughost validate-plugin`, for Python and TypeScript
plugins broken in each way they break at import. And TypeScript stack traces point at `src/*.ts`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CANDLES, Cli, build_typescript, line_of, typescript_probe

IMPORT_LINE = "from plughost_sdk import Alert, Candle, Signal, StrategyContext, StrategyPlugin\n"

# name -> (edit of strategy.py: (old, new)), the file and line the error must name, the source line shown
PY_CASES = {
    "syntax": (("    version = \"0.1.0\"\n", "    version = \"0.1.0\"\n    if x = 1:\n"), "strategy.py", "if x = 1:",
               "SyntaxError"),
    "missing_module": ((IMPORT_LINE, IMPORT_LINE + "import no_such_module_xyz\n"), "strategy.py",
                       "import no_such_module_xyz", "ModuleNotFoundError"),
    "raised": ((IMPORT_LINE, IMPORT_LINE + "LIMITS = {'a': 1}\nMAX = LIMITS['b']\n"), "strategy.py",
               "MAX = LIMITS['b']", "KeyError"),
    "no_plugin": (("(StrategyPlugin):", ":"), "strategy.py", None, "LoadError"),
    # a SyntaxError raised by code that ran (not a file that does not parse) is an exception at import
    "raised_syntax_error": ((IMPORT_LINE, IMPORT_LINE + "import ast\nTREE = ast.parse('x = = 1')\n"), "strategy.py",
                            "TREE = ast.parse('x = = 1')", "SyntaxError"),
}


def _check_message(first_lines: list[str], file: str, line: int | None, source: str | None, kind: str) -> None:
    where = f"{file}:{line}" if line else file
    assert where in first_lines[0] and kind in first_lines[0], first_lines
    if source:
        assert first_lines[1].strip() == source, first_lines


@pytest.mark.parametrize("case", sorted(PY_CASES))
def test_python_load_errors_at_the_authors_line(case: str, scaffold: Callable[..., Path], cli: Cli,
                                                tmp_path: Path) -> None:
    (old, new), file, source, kind = PY_CASES[case]
    plugin = scaffold("probe")
    strategy = plugin / "strategy.py"
    text = strategy.read_text()
    assert old in text
    strategy.write_text(text.replace(old, new, 1))
    line = line_of(strategy, source) if source else None

    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out")
    assert done.exit_code == 1, done.stderr
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_LOAD_FAILED" and error["plugin"] == "probe"
    assert error["kind"] == case.removesuffix("_syntax_error") and error["line"] == line, error
    assert error["file"].endswith(file)
    _check_message(error["message"].splitlines(), file, line, source, kind)
    shown = [x for x in done.stderr.splitlines() if file in x or (source and source in x)]
    _check_message(shown, file, line, source, kind)
    assert "must not exit on its own" not in done.stderr and "handshake" not in done.stderr
    assert "\n  -> " in done.stderr

    done = cli("validate-plugin", plugin, "--json")
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    [diag] = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert diag["code"] == "PLUGIN_LOAD_FAILED"
    _check_message(diag["message"].splitlines(), file, line, source, kind)
    if line:
        assert diag["file"].endswith(f"{file}:{line}")


def test_python_load_error_from_the_warm_fork_server_is_the_same(scaffold: Callable[..., Path]) -> None:
    from plughost.client.proxies import start_plugin
    from plughost.errors import PluginLoadFailed
    from plughost.transport.process import LaunchSpec
    from plughost.transport.warm import WarmSpawner

    plugin = scaffold("probe")
    strategy = plugin / "strategy.py"
    strategy.write_text(strategy.read_text().replace(IMPORT_LINE, IMPORT_LINE + "import no_such_module_xyz\n", 1))
    warm = WarmSpawner()
    try:
        with pytest.raises(PluginLoadFailed) as info:
            start_plugin(LaunchSpec("probe", "strategy", "python", strategy, plugin), spawner=warm)
        assert warm.server.served == 1
    finally:
        warm.close()
    err = info.value
    assert err.kind == "missing_module" and err.line == line_of(strategy, "import no_such_module_xyz")
    assert str(err).splitlines()[1].strip() == "import no_such_module_xyz"


# TypeScript: edits of src/index.ts, built with tsc; the error names the .ts line (source maps).
TS_HEADER = "import type { Candle, Signal, StrategyContext, StrategyPlugin } from '@plughost/sdk';\n"
TS_CASES = {
    "missing_module": ((TS_HEADER, TS_HEADER + "// @ts-ignore\nimport * as missing from 'no-such-package-xyz';\n"
                        "export const used = missing;\n"),
                       "index.ts", "import * as missing from 'no-such-package-xyz';", "Error"),
    "raised": ((TS_HEADER, TS_HEADER + "function setup(): number {\n  throw new Error('bad setup');\n}\n"
                "export const ready = setup();\n"), "index.ts", "throw new Error('bad setup');", "Error"),
    "no_plugin": (("export default class", "export class"), "index.js", None, "LoadError"),
}


@pytest.mark.node
@pytest.mark.parametrize("case", sorted(TS_CASES))
def test_typescript_load_errors_at_the_authors_line(case: str, scaffold: Callable[..., Path], cli: Cli,
                                                    tmp_path: Path) -> None:
    (old, new), file, source, kind = TS_CASES[case]
    plugin = typescript_probe(scaffold)
    index = plugin / "src" / "index.ts"
    text = index.read_text()
    assert old in text
    index.write_text(text.replace(old, new, 1))
    build_typescript(plugin)
    line = line_of(index, source) if source else None

    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out")
    assert done.exit_code == 1, done.stderr
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_LOAD_FAILED" and error["kind"] == case, error
    assert error["file"].endswith(file) and error["line"] == line, error
    _check_message(error["message"].splitlines(), file, line, source, kind)

    done = cli("validate-plugin", plugin, "--json")
    assert done.exit_code == 1
    [diag] = [d for d in json.loads(done.stdout)["diagnostics"] if d["severity"] == "error"]
    assert diag["code"] == "PLUGIN_LOAD_FAILED"


@pytest.mark.node
def test_javascript_syntax_error_at_the_authors_line(scaffold: Callable[..., Path], cli: Cli, tmp_path: Path) -> None:
    """tsc refuses a syntax error, so a plain-JavaScript plugin has one."""
    plugin = scaffold("probe")
    (plugin / "strategy.py").unlink()
    (plugin / "index.js").write_text("module.exports = {\n  name: 'probe', version: '0.1.0',\n"
                                     "  onCandle() { return null +; },\n};\n")
    manifest = json.loads((plugin / "plugin.json").read_text())
    (plugin / "plugin.json").write_text(json.dumps({**manifest, "language": "javascript", "entry": "index.js"}))
    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out")
    assert done.exit_code == 1
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_LOAD_FAILED" and error["kind"] == "syntax"
    _check_message(error["message"].splitlines(), "index.js", 3, "onCandle() { return null +; },", "SyntaxError")


@pytest.mark.node
def test_typescript_stack_traces_point_at_src(scaffold: Callable[..., Path], cli: Cli, tmp_path: Path) -> None:
    plugin = typescript_probe(scaffold)
    index = plugin / "src" / "index.ts"
    marker = "    const h = ctx.history;\n"
    text = index.read_text()
    assert marker in text
    index.write_text(text.replace(marker, "    if (candle.close > 0) throw new Error('thrown from ts');\n" + marker, 1))
    build_typescript(plugin)
    line = line_of(index, "thrown from ts")
    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out")
    assert done.exit_code == 1
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_ERROR", error
    assert f"src/index.ts:{line}:" in error["traceback"], error["traceback"]
    assert "dist/index.js" not in error["traceback"].splitlines()[1]
