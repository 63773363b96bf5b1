"""docs/python-api.md is a notebook: its ```python blocks run, in order, in one fresh interpreter in an
empty folder outside the repository, and must not fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def test_every_python_block_of_the_api_page_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 5
    script = tmp_path / "notebook.py"
    cells = [f"# --- cell {i}\n{block}" for i, block in enumerate(blocks)]
    script.write_text("\n".join(cells))
    env = {k: v for k, v in os.environ.items() if k != "PLUGHOST_PLUGIN_PATH"}
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "<Result sma-cross-" in proc.stdout and "<BatchResult" in proc.stdout and "6 ok" in proc.stdout
    assert "PLUGIN_ERROR buy-dips" in proc.stdout and "did you mean 'sma-cross'" in proc.stdout
    assert (work / "results" / "runs" / "rsi-default" / "summary.json").is_file()
