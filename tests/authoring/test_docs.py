"""The docs stay true: the quick start's commands run; the CLI reference matches the commands; the
troubleshooting page covers every error code."""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import plughost
from plughost import errors

from .conftest import REPO, VENV_BIN

DOCS = REPO / "docs"
# Lines of the quick start that set up the environment this test already runs in.
SETUP_LINES = {"make setup", "source .venv/bin/activate"}


def sh_commands(markdown: str) -> list[str]:
    """The commands of the ```sh blocks, comments stripped (```text blocks are not run)."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.M | re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line:
                commands.append(line)
    return commands


def test_quickstart_commands_run(tmp_path: Path) -> None:
    commands = sh_commands((DOCS / "quickstart.md").read_text())
    assert set(commands) >= SETUP_LINES, "the quick start must keep its setup step"
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copytree(REPO / "plugins", work / "plugins", ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    for name in ("data", "examples"):
        (work / name).symlink_to(REPO / name)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        if command in SETUP_LINES:
            continue
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"quick start command failed: {command}\n{done.stdout}\n{done.stderr}"
    assert (work / "plugins" / "strategies" / "my-first-strategy" / "strategy.py").is_file()
    assert len(list((work / "plughost-out" / "runs").iterdir())) == 3


def test_cli_reference_is_current() -> None:
    done = subprocess.run([sys.executable, str(DOCS / "make_cli_reference.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _error_classes() -> set[type[errors.PlughostError]]:
    """Every subclass of PlughostError, wherever in plughost it is defined: every module is imported first,
    so a class defined outside plughost/errors.py is walked too (and then fails the one-tree test)."""
    for module in pkgutil.walk_packages(plughost.__path__, "plughost."):
        with contextlib.suppress(ImportError):  # an optional extra (ray) that is not installed
            importlib.import_module(module.name)
    found: set[type[errors.PlughostError]] = set()
    todo: list[type[errors.PlughostError]] = [errors.PlughostError]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return found


def test_the_error_tree_is_one_module() -> None:
    walked = _error_classes()
    assert {cls.__module__ for cls in walked} == {"plughost.errors"}, "every error class lives in plughost/errors.py"
    assert set(errors.error_classes()) == walked
    assert {"BatchFileError", "WorkerLost", "PluginQuarantined"} <= {cls.__name__ for cls in walked}


def test_troubleshooting_covers_every_error_and_warning_code() -> None:
    page = (DOCS / "troubleshooting.md").read_text()
    headings = set(re.findall(r"^## `([A-Z_]+)`", page, flags=re.M))
    codes = {cls.code for cls in _error_classes()}
    assert {"BATCH_LOCKED", "WORKER_LOST", "PLUGIN_QUARANTINED", "INTERRUPTED", "PLUGIN_LOAD_FAILED"} <= codes
    warning_codes = {code.value for code in errors.WarningCode}
    assert {"TEARDOWN_FAILED", "METRIC_REFUSED", "ARTIFACT_REFUSED"} <= warning_codes
    missing = (codes | warning_codes) - headings
    assert not missing, f"docs/troubleshooting.md has no section for {sorted(missing)}"
    warnings_part = page[page.index("# Warning codes"):]
    assert all(f"## `{code}`" in warnings_part for code in warning_codes), "warning codes belong under # Warning codes"


def test_no_bare_warning_code_strings_in_the_host() -> None:
    """Warning codes are written as `WarningCode` members, so the list above is the whole list."""
    for path in (REPO / "host" / "plughost").rglob("*.py"):
        if path.name == "errors.py":
            continue
        text = path.read_text()
        for code in errors.WarningCode:
            assert f'"{code.value}"' not in text, f"{path.relative_to(REPO)} spells {code.value} as a bare string"


def test_doc_links_resolve() -> None:
    """Links between docs pages point at files that exist (pages other engineers write are allowed to be
    missing only while listed here)."""
    pending = {"batch.md", "reliability.md", "performance.md", "features.md"}
    for page in [*DOCS.glob("*.md"), REPO / "README.md"]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_file() or path.name in pending, f"{page.name} links to missing {target}"
