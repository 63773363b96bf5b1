"""`plughost new-plugin`: a new strategy or feature plugin, from the templates in `plughost/templates/`.

A scaffold validates and runs as it is: manifest, config schema with defaults, source with every method
stubbed and commented, README; for TypeScript also `package.json` (depending on `@plughost/sdk`) and
`tsconfig.json`. Template files end in `.tmpl` and hold `{{placeholders}}`; `gitignore.tmpl` becomes
`.gitignore`.
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import click

from .. import bundle
from ..errors import UsageError
from ..plugins.manifest import NAME_PATTERN
from ..plugins.registry import Registry, resolve_roots
from .common import handle_errors

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SDK_DIR = bundle.typescript_sdk_dir() or bundle.BUNDLE_DIR / "node_modules" / "@plughost" / "sdk"
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@dataclass
class Scaffold:
    """Where a new plugin goes and how to talk about it (paths as the user should type them)."""

    name: str
    type: str
    language: str
    target: Path

    @property
    def display_dir(self) -> str:
        return _display(self.target)

    def roots_flag(self) -> str:
        """The `--plugins-dir` flags `plughost run` needs to find this plugin (and, for a feature, the
        bundled strategies), or "" when the default search path already covers it."""
        defaults = [r for r in resolve_roots() if r.is_dir()]
        parent = self.target.parent.resolve()
        if any(parent == r.resolve() or parent.parent == r.resolve() for r in defaults):
            return ""
        roots = [*defaults, parent] if self.type == "feature" else [parent]
        return "".join(f" --plugins-dir {_display(r)}" for r in roots)


def _display(path: Path) -> str:
    """A path relative to the working directory when it lies below it, else absolute."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path.resolve())
    return str(rel) if str(rel) != "." else "."


def class_name(name: str) -> str:
    """`my-cool.strategy` -> `MyCoolStrategy`; a name starting with a digit gets a `Plugin` prefix."""
    words = [w for w in re.split(r"[^a-zA-Z0-9]+", name) if w]
    out = "".join(w[:1].upper() + w[1:] for w in words) or "Plugin"
    return f"Plugin{out}" if out[0].isdigit() else out


def _workspace_root(target: Path) -> Path | None:
    """The npm workspace root whose `workspaces` patterns include `target`, if any."""
    target = target.resolve()
    for folder in target.parents:
        manifest = folder / "package.json"
        if not manifest.is_file():
            continue
        try:
            patterns = json.loads(manifest.read_text()).get("workspaces") or []
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(patterns, dict):  # the yarn form {"packages": [...]}
            patterns = patterns.get("packages") or []
        rel = target.relative_to(folder).as_posix()
        if any(isinstance(p, str) and fnmatch.fnmatch(rel, p.rstrip("/")) for p in patterns):
            return folder
    return None


def _sdk_version() -> str:
    try:
        return str(json.loads((SDK_DIR / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "0.1.0"


def _typescript_values(target: Path) -> dict[str, str]:
    workspace = _workspace_root(target)
    if workspace is not None:
        rel = target.resolve().relative_to(workspace).as_posix()
        where = _display(workspace)
        cd = "" if where == "." else f"cd {where} && "
        return {
            "sdk_dependency": _sdk_version(),
            "build_command": f"`npm run build -w {rel}` at the workspace root",
            "build_steps": (
                "This folder is part of the npm workspace at the repository root, so `npm install` there links\n"
                "`@plughost/sdk` (the repository's `sdk-typescript/`):\n\n"
                f"```sh\n{cd}npm install && npm run build -w {rel}\n```"
            ),
        }
    if (SDK_DIR / "package.json").is_file():
        dependency = "file:" + os.path.relpath(SDK_DIR, target.resolve())
        sdk = str(SDK_DIR)
    else:
        dependency, sdk = _sdk_version(), "<plughost checkout>/sdk-typescript"
    where = ("in your plughost checkout ({sdk}), which must be\nbuilt first (`make setup` there)"
             if bundle.checkout_root() is not None else "that came with plughost ({sdk})").format(sdk=sdk)
    return {
        "sdk_dependency": dependency,
        "build_command": "`npm run build` in this folder",
        "build_steps": (
            "This folder is outside the plughost npm workspace. `@plughost/sdk` is not on the npm registry:\n"
            f"`package.json` points at the SDK {where}. Then, in this folder:\n\n"
            "```sh\nnpm install && npm run build\n```\n\n"
            "If you move this folder, fix the `@plughost/sdk` path in `package.json` "
            "(or `npm install /path/to/plughost/sdk-typescript`)."
        ),
    }


def render(text: str, values: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return values[key]

    return _PLACEHOLDER.sub(sub, text)


def create_plugin(name: str, type_: str, language: str, parent: Path, description: str | None = None) -> Scaffold:
    """Write the plugin folder `parent/name` from its template; return what was made."""
    if not re.match(NAME_PATTERN, name):
        raise UsageError(
            f"'{name}' is not a valid plugin name",
            hint="use 1-64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (e.g. my-strategy)",
        )
    target = parent / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{_display(target)} already exists and is not empty", plugin=name,
            hint="pick another name, or another parent folder with --dir DIR",
        )
    roots = [r for r in resolve_roots() if r.is_dir()]
    if parent.is_dir():
        roots.append(parent)
    taken = Registry.discover(roots, examples=False).find_all(name)
    if taken:
        raise UsageError(
            f"a plugin named '{name}' already exists ({', '.join(_display(e.path) for e in taken)})",
            plugin=name, hint="plugin names must be unique: pick another name",
        )
    scaffold = Scaffold(name, type_, language, target)
    source = TEMPLATES / f"{language}-{type_}"
    values = {
        "name": name,
        "class_name": class_name(name),
        "npm_name": name,
        "description": description or f"A {language} {type_} plugin for plughost.",
        "author": _author(),
        "plugin_dir": _display(target),
        "plugins_dir_flag": scaffold.roots_flag(),
    }
    if language == "typescript":
        values.update(_typescript_values(target))
    for template in sorted(p for p in source.rglob("*.tmpl") if p.is_file()):
        rel = template.relative_to(source).as_posix().removesuffix(".tmpl")
        if rel == "gitignore":
            rel = ".gitignore"
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        text = template.read_text(encoding="utf-8")
        if out.suffix == ".json":
            values_json = {k: json.dumps(v)[1:-1] for k, v in values.items()}  # escaped for a JSON string
            out.write_text(render(text, values_json), encoding="utf-8")
        else:
            out.write_text(render(text, values), encoding="utf-8")
    return scaffold


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"


def next_steps(s: Scaffold) -> list[str]:
    flag = s.roots_flag()
    steps: list[str] = []
    if s.language == "typescript":
        workspace = _workspace_root(s.target)
        if workspace is not None:
            rel = s.target.resolve().relative_to(workspace).as_posix()
            where = _display(workspace)
            prefix = "" if where == "." else f"cd {where} && "
            steps.append(f"{prefix}npm install && npm run build -w {rel}     # link @plughost/sdk, compile to dist/")
        else:
            steps.append(f"cd {s.display_dir} && npm install && npm run build && cd -     # compile to dist/")
    steps.append(f"plughost validate-plugin {s.display_dir}")
    if s.type == "strategy":
        steps.append(f"plughost run --strategy {s.name} --candles data/sample/BTCUSD-1m.parquet{flag}")
        steps.append(f"plughost run --strategy {s.name} --candles data/sample/BTCUSD-1m.parquet{flag} --watch"
                     "     # re-runs on every change")
    else:
        steps.append(f"plughost run --strategy sma-cross --feature {s.name} "
                     f"--candles data/sample/BTCUSD-1m.parquet{flag}")
    return steps


@click.command("new-plugin")
@click.argument("name")
@click.option("--type", "type_", type=click.Choice(["strategy", "feature"]), default="strategy", show_default=True,
              help="A strategy (trades) or a feature (observes runs, adds metrics and files).")
@click.option("--language", type=click.Choice(["python", "typescript"]), default="python", show_default=True,
              help="Language of the plugin.")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Folder to create the plugin in (as DIR/NAME). Default: plugins/strategies or plugins/features.")
@click.option("--description", metavar="TEXT", help="One line for plugin.json's description.")
@handle_errors
def new_plugin(name: str, type_: str, language: str, parent: Path | None, description: str | None) -> None:
    """Create a new plugin folder NAME from a template that validates and runs as it is.

    It holds plugin.json, config.schema.json (with defaults), the source with every method stubbed and
    commented, and a README; a TypeScript plugin also gets package.json (depending on @plughost/sdk) and
    tsconfig.json. The next commands to run are printed at the end.

    \b
    Examples:
      plughost new-plugin my-strategy
      plughost new-plugin my-strategy --language typescript
      plughost new-plugin trade-log --type feature
      plughost new-plugin my-strategy --dir ~/my-plugins
    """
    if parent is None:
        parent = Path("plugins") / ("strategies" if type_ == "strategy" else "features")
    scaffold = create_plugin(name, type_, language, parent, description)
    files = sorted(p.relative_to(scaffold.target).as_posix() for p in scaffold.target.rglob("*") if p.is_file())
    click.echo(f"created {language} {type_} '{name}' in {scaffold.display_dir}/: {', '.join(files)}")
    click.echo("next:")
    for step in next_steps(scaffold):
        click.echo(f"  {step}")
