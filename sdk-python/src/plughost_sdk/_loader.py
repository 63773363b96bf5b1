"""Import a plugin's entry file and find the plugin in it (PROTOCOL.md section 1, `PLUGHOST_PLUGIN_ENTRY`)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from ._plugin import FeaturePlugin, StrategyPlugin


class LoadError(Exception):
    """The entry file imported but holds no usable plugin (kind `no_plugin`: no traceback is worth showing)."""


def load_module(entry: Path, name: str) -> ModuleType:
    if not entry.is_file():
        raise LoadError("the entry file does not exist")
    sys.path.insert(0, str(entry.parent))
    module_name = "plughost_plugin_" + "".join(c if c.isalnum() else "_" for c in name)
    spec = importlib.util.spec_from_file_location(module_name, entry)
    if spec is None or spec.loader is None:
        raise LoadError("cannot import the entry file as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def find_plugin(module: ModuleType) -> StrategyPlugin | FeaturePlugin:
    exported = getattr(module, "plugin", None)
    if isinstance(exported, StrategyPlugin | FeaturePlugin):
        return exported
    classes = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, StrategyPlugin | FeaturePlugin)
        and obj not in (StrategyPlugin, FeaturePlugin) and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise LoadError(
            f"no plugin found: the module must export an instance named `plugin` or define exactly one "
            f"subclass of StrategyPlugin or FeaturePlugin (found: {found})"
        )
    return classes[0]()
