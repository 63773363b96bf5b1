"""Build step for the `plughost` wheel: the files a user needs beside the Python code are copied into the
package as `plughost/_bundled/` (read by host/plughost/bundle.py):

    node_modules/@plughost/sdk/   sdk-typescript/package.json and its built dist/ (the Node runner)
    node_modules/<dependency>/    the TypeScript SDK's runtime dependencies (msgpackr)
    plugins/                      the example plugins, with the TypeScript ones' built dist/

They are taken from this checkout, built by `make setup` (or here, with npm, when they are missing); a
wheel without them could not run a Node plugin, so building one fails instead. An editable install
(`pip install -e .`) copies nothing: it reads the checkout directly. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SDK_VERSION = "0.1.0"  # the same version: the host and the SDK share the protocol
REQUIREMENTS = [
    "msgpack==1.2.4",
    "pydantic==2.13.4",
    "click==8.4.0",
    "pyarrow==26.0.1",
    "numpy==2.4.6",
    "psutil==7.2.2",
    "jsonschema==4.26.0",
    "rich==15.0.0",
    "Jinja2==3.1.6",
]


def _sdk_requirement() -> str:
    """`pip install <this checkout>` must find the Python SDK beside it (it is not on an index): then the
    requirement points at sdk-python/ here. `make wheel` and `make setup` set PLUGHOST_SDK_REQUIREMENT to
    the plain pin, so wheels meant to be installed elsewhere carry no path of this machine."""
    pinned = os.environ.get("PLUGHOST_SDK_REQUIREMENT")
    if pinned:
        return pinned
    sdk = ROOT / "sdk-python"
    if (sdk / "pyproject.toml").is_file():
        return f"plughost-sdk @ {sdk.as_uri()}"
    return f"plughost-sdk=={SDK_VERSION}"
SKIP = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc", ".*", "*.tsbuildinfo", "build-test")
# what the SDK's runtime dependencies ship that Node never loads at run time
DEPENDENCY_SKIP = shutil.ignore_patterns("node_modules", "*.map", "*.min.js", "test*", "benchmark*", "rollup.config.js")


def _runtime_packages() -> list[str]:
    """The TypeScript SDK's runtime dependencies, and theirs (optional ones left out), by package name."""
    seen: list[str] = []
    todo = list(json.loads((ROOT / "sdk-typescript" / "package.json").read_text()).get("dependencies", {}))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        manifest = ROOT / "node_modules" / name / "package.json"
        if manifest.is_file():
            todo += list(json.loads(manifest.read_text()).get("dependencies", {}))
    return sorted(seen)


def _missing() -> list[Path]:
    wanted = [ROOT / "sdk-typescript" / "dist" / "runner.js"]
    if (ROOT / "node_modules").is_dir():
        wanted += [ROOT / "node_modules" / name / "package.json" for name in _runtime_packages()]
    else:
        wanted.append(ROOT / "node_modules")
    missing = [p for p in wanted if not p.exists()]
    return missing + [p.parent / "dist" for p in (ROOT / "plugins").glob("*/*/package.json")
                      if not (p.parent / "dist").is_dir()]


def bundle(target: Path) -> None:
    sdk = ROOT / "sdk-typescript"
    missing = _missing()
    if missing and shutil.which("npm"):  # a fresh clone: build the TypeScript side as `make setup` does
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)
        subprocess.run(["npm", "run", "build", "--silent"], cwd=ROOT, check=True)
        missing = _missing()
    if missing:
        raise SystemExit(f"cannot build the plughost wheel: {', '.join(map(str, missing))} missing; "
                         "run `make setup` first")
    if target.exists():
        shutil.rmtree(target)
    modules = target / "node_modules"
    (modules / "@plughost" / "sdk").mkdir(parents=True)
    shutil.copy2(sdk / "package.json", modules / "@plughost" / "sdk" / "package.json")
    shutil.copytree(sdk / "dist", modules / "@plughost" / "sdk" / "dist")
    for name in _runtime_packages():
        shutil.copytree(ROOT / "node_modules" / name, modules / name, ignore=DEPENDENCY_SKIP)
    shutil.copytree(ROOT / "plugins", target / "plugins", ignore=SKIP)


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            bundle(Path(self.build_lib) / "plughost" / "_bundled")


setup(cmdclass={"build_py": BuildPy}, install_requires=[_sdk_requirement(), *REQUIREMENTS])
