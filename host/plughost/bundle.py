"""Where the files that ship with plughost are: the TypeScript SDK runner (with its one runtime dependency)
and the example plugins.

An installed wheel carries them as package data in `plughost/_bundled/` (copied there by `setup.py`'s
build step):

    _bundled/node_modules/@plughost/sdk/{package.json,dist/}   the Node runner and the SDK plugins import
    _bundled/node_modules/msgpackr/                            the SDK's runtime dependency
    _bundled/plugins/{strategies,features}/<name>/             the example plugins (TypeScript ones built)

A source checkout (an editable install) has no `_bundled/`: the same files are found in the repository,
`sdk-typescript/dist/`, `node_modules/` and `plugins/`. Only this module knows either layout.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLE_DIR = PACKAGE_DIR / "_bundled"
RUNNER_ENV = "PLUGHOST_TS_RUNNER"


@cache
def checkout_root() -> Path | None:
    """The repository root when plughost runs from a source checkout (host/plughost/), else None."""
    root = PACKAGE_DIR.parents[1]
    if (root / "pyproject.toml").is_file() and (root / "sdk-typescript" / "package.json").is_file():
        return root
    return None


def node_modules() -> Path | None:
    """The folder Node plugins resolve `@plughost/sdk` (and the runner `msgpackr`) from: passed as NODE_PATH."""
    if (BUNDLE_DIR / "node_modules").is_dir():
        return BUNDLE_DIR / "node_modules"
    root = checkout_root()
    return root / "node_modules" if root is not None else None


def typescript_sdk_dir() -> Path | None:
    """The `@plughost/sdk` package folder (package.json and dist/)."""
    bundled = BUNDLE_DIR / "node_modules" / "@plughost" / "sdk"
    if (bundled / "package.json").is_file():
        return bundled
    root = checkout_root()
    return root / "sdk-typescript" if root is not None else None


def node_runner() -> Path:
    """The Node runner script; `$PLUGHOST_TS_RUNNER` overrides it. May not exist (not built yet)."""
    if os.environ.get(RUNNER_ENV):
        return Path(os.environ[RUNNER_ENV])
    sdk = typescript_sdk_dir()
    return (sdk if sdk is not None else BUNDLE_DIR / "node_modules" / "@plughost" / "sdk") / "dist" / "runner.js"


def examples_root() -> Path | None:
    """The example plugins that ship with plughost: the last place a plugin name is looked up."""
    if (BUNDLE_DIR / "plugins").is_dir():
        return BUNDLE_DIR / "plugins"
    root = checkout_root()
    if root is not None and (root / "plugins").is_dir():
        return root / "plugins"
    return None


def build_hint() -> str:
    if checkout_root() is not None:
        return "build it: `make setup` (or `npm ci && npm run build` at the repository root)"
    return "this plughost installation is incomplete; reinstall it from a wheel built with `make wheel`"
