"""pandas kept out of commands that never use it (`plughost run`, `plughost report`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def without_pandas() -> Iterator[None]:
    """pyarrow imports pandas, when it is installed, the first time it turns an array into numpy or opens a
    dataset, only to learn pandas' types: ~340 modules (~0.2 s) in a one-run command that never uses pandas
    (plugins run in their own processes). While a run or a report is made, `import pandas` fails as
    if it were not installed, unless something imported it already. PLUGHOST_KEEP_PANDAS=1 turns it off."""
    if "pandas" in sys.modules or os.environ.get("PLUGHOST_KEEP_PANDAS") == "1":
        yield
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class _NoPandas:
    """`import pandas` fails as if it were not installed (pyarrow then does without it). A meta path finder
    needs only `find_spec`; importlib.abc is not subclassed because importing it costs ~8 ms (it pulls in
    importlib.resources)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (plughost does without it here)", name=name)
        return None
