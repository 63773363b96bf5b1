"""Discovery of many plugins: cold (no cache) and cached scan times.

    .venv/bin/python bench/registry.py [--plugins 500] [--runs 7]

Generates N plugin folders (half strategies, half features, each with a config schema) in a temp dir,
then times `Registry.discover()` with an empty $PLUGHOST_HOME (cold: every manifest parsed and
validated, cache written) and with the cache in place (cached: manifests reused, path containment
checks still run). Prints the median of several runs of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from plughost.plugins.registry import Registry


def generate(root: Path, n: int) -> None:
    for i in range(n):
        kind = "strategies" if i % 2 == 0 else "features"
        name = f"bench-plugin-{i:04d}"
        folder = root / kind / name
        folder.mkdir(parents=True)
        (folder / "plugin.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "version": f"1.{i % 10}.0",
                    "type": "strategy" if kind == "strategies" else "feature",
                    "language": "python",
                    "entry": "main.py",
                    "configSchema": "schema.json",
                    "description": f"generated plugin {i}",
                }
            )
        )
        (folder / "main.py").write_text("from plughost_sdk import StrategyPlugin\n")
        (folder / "schema.json").write_text(json.dumps({"type": "object", "properties": {}}))


def timed(root: Path, home: Path, *, cold: bool) -> float:
    if cold and home.exists():
        shutil.rmtree(home)
    start = time.perf_counter()
    reg = Registry.discover([root], home=home)
    elapsed = time.perf_counter() - start
    assert len(reg.list()) > 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plughost-bench-") as tmp:
        root, home = Path(tmp) / "plugins", Path(tmp) / "home"
        generate(root, args.plugins)
        reg = Registry.discover([root], home=home, use_cache=False)
        assert len(reg.list()) == args.plugins and all(e.valid for e in reg.list())
        cold = [timed(root, home, cold=True) for _ in range(args.runs)]
        timed(root, home, cold=True)  # leave a fresh cache behind
        cached = [timed(root, home, cold=False) for _ in range(args.runs)]
        print(f"plugins: {args.plugins}, runs: {args.runs}")
        print(f"cold scan:   median {statistics.median(cold) * 1e3:8.1f} ms  (min {min(cold) * 1e3:.1f})")
        print(f"cached scan: median {statistics.median(cached) * 1e3:8.1f} ms  (min {min(cached) * 1e3:.1f})")


if __name__ == "__main__":
    main()
