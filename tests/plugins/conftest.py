"""Fixtures for the registry/manifest/config/validator/CLI tests: real plugin folders in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from registry_helpers import manifest

FIXTURES = Path(__file__).parent / "fixtures"

MakePlugin = Callable[..., Path]


@pytest.fixture
def make_plugin() -> MakePlugin:
    """make_plugin(folder, manifest_dict_or_text, files={rel: text}, source=fixture_module)."""

    def make(
        folder: Path,
        data: dict[str, Any] | str,
        files: dict[str, str] | None = None,
        source: str | None = None,
    ) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else json.dumps(data, indent=2)
        (folder / "plugin.json").write_text(text)
        if source is not None:
            shutil.copy(FIXTURES / "python" / f"{source}.py", folder / "main.py")
        elif isinstance(data, dict) and data.get("entry") == "main.py" and not (folder / "main.py").exists():
            shutil.copy(FIXTURES / "python" / "good_strategy.py", folder / "main.py")
        for rel, content in (files or {}).items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        return folder

    return make


def _children() -> set[int]:
    from plughost.transport.reaper import REAPER

    reaper = REAPER.pid
    out = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.pid != reaper and child.status() != psutil.STATUS_ZOMBIE:
                out.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fails the test when it leaves a plugin process (or any other child) behind."""
    before = _children()
    yield
    deadline = time.monotonic() + 3.0
    left = _children() - before
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _children() - before
    assert not left, f"child processes left behind: {sorted(left)}"


GOOD = ("good-a", "good-b", "counter")
BROKEN = {
    # folder (under strategies/) -> the check that must flag it
    "invalid-json": "manifest-json",
    "no-entry": "manifest-schema",
    "wrong-type": "manifest-schema",
    "unknown-key": "manifest-schema",
    "twin-1": "duplicate-name",
    "twin-2": "duplicate-name",
    "passwd": "path-escape",
    "symlinked": "path-escape",
    "bad-name": "manifest-schema",
}


@pytest.fixture
def mixed_root(tmp_path: Path, make_plugin: MakePlugin) -> Path:
    """A plugins folder: three valid plugins next to one of each kind of broken plugin."""
    root = tmp_path / "plugins"
    s = root / "strategies"
    make_plugin(s / "good-a", manifest("good-a", description="the first good one"))
    make_plugin(
        s / "good-b",
        manifest("good-b", version="2.1.0", configSchema="schema.json"),
        files={"schema.json": json.dumps({"type": "object", "properties": {"n": {"type": "integer", "default": 3}}})},
    )
    make_plugin(root / "features" / "counter", manifest("counter", type="feature"), source="good_feature")
    make_plugin(s / "invalid-json", '{"name": "invalid-json", "version": "1.0.0",, }')
    make_plugin(s / "no-entry", manifest("no-entry", entry=None))
    make_plugin(s / "wrong-type", manifest("wrong-type", type="indicator"))
    make_plugin(s / "unknown-key", {**manifest("unknown-key"), "colour": "blue"})
    make_plugin(s / "twin-1", manifest("twin"))
    make_plugin(s / "twin-2", manifest("twin"))
    make_plugin(s / "passwd", manifest("passwd", entry="../../etc/passwd"))
    outside = tmp_path / "outside.py"
    outside.write_text("print('outside')\n")
    sym = make_plugin(s / "symlinked", manifest("symlinked", entry="link.py"))
    os.symlink(outside, sym / "link.py")
    make_plugin(s / "bad-name", manifest("../x"))
    return root
