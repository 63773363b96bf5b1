"""What the Node runner's stack watchdog (sdk-typescript/src/watchdog.ts) costs a plugin process: resident
memory and CPU half a second after the handshake, with and without PLUGHOST_STACK_FD (medians of 5 starts).

    .venv/bin/python bench/node_watchdog.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "sdk-typescript" / "test" / "fixtures" / "tsc-cjs.js"
RUNNER = ROOT / "sdk-typescript" / "dist" / "runner.js"


def start_once(watchdog: bool) -> tuple[float, float, float]:
    """(ms to the first byte of hello, resident MB, CPU ms) of one runner."""
    env = {"PATH": os.environ["PATH"], "PLUGHOST_MAGIC_COOKIE": "plughost-plugin-v1",
           "PLUGHOST_PROTOCOL_VERSIONS": "1,2", "PLUGHOST_PLUGIN_ENTRY": str(FIXTURE), "PLUGHOST_PLUGIN_NAME": "x",
           "PLUGHOST_PLUGIN_TYPE": "strategy"}
    read_end, write_end = os.pipe()
    if watchdog:
        env["PLUGHOST_STACK_FD"] = str(read_end)
    began = time.perf_counter()
    proc = subprocess.Popen(["node", str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, pass_fds=(read_end,) if watchdog else ())
    os.close(read_end)
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.read(4)
    hello_ms = (time.perf_counter() - began) * 1000
    time.sleep(0.5)
    with open(f"/proc/{proc.pid}/status") as status:
        rss_mb = int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024
    with open(f"/proc/{proc.pid}/stat") as stat:
        cpu_ms = sum(map(int, stat.read().split()[13:15])) / os.sysconf("SC_CLK_TCK") * 1000
    proc.stdin.close()
    proc.wait()
    os.close(write_end)
    return hello_ms, rss_mb, cpu_ms


def main() -> None:
    for watchdog in (False, True, False, True):
        samples = [start_once(watchdog) for _ in range(5)]
        hello, rss, cpu = (statistics.median(s[i] for s in samples) for i in range(3))
        print(f"{'watchdog' if watchdog else 'none    '}  hello {hello:4.0f} ms  rss {rss:5.1f} MB  cpu {cpu:3.0f} ms")


if __name__ == "__main__":
    main()
