"""Round-trip latency of a small call to a plugin, beside a raw-pipe baseline measured in the same run.

    .venv/bin/python bench/rtt.py [--calls 20000]

Rows:
  raw pipe        a child that echoes length-prefixed bytes: the floor any pipe protocol pays
  raw pipe, spin  the same, both sides polling 50 us before sleeping as plughost does: the ratios' baseline
  python ping     plughost session -> Python SDK runner -> `ping` (msgpack both ways, request ids)
  python candle   a `candles` request carrying 1 candle through a strategy's on_candle
  node ping/candle the same through the TypeScript SDK runner (when it is built); with
                  --node-spin never auto always, once per mode of the runner's spin (PLUGHOST_NODE_SPIN,
                  sdk-typescript/src/spin.ts: auto, the default, spins only while the CPUs are not crowded)
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from plughost.client.proxies import Timeouts, start_plugin  # noqa: E402
from plughost.protocol.messages import CandleBatch  # noqa: E402
from plughost.transport.process import LaunchSpec, node_runner  # noqa: E402
from plughost_sdk._framing import SPIN_SECONDS  # noqa: E402

ECHO = r"""
import os, select, sys, time
r, w = 0, 1
spin = float(sys.argv[1])
poll = select.poll()
poll.register(r, select.POLLIN)
buf = bytearray()
while True:
    deadline = time.perf_counter() + spin
    while spin and not poll.poll(0) and time.perf_counter() < deadline:
        pass
    chunk = os.read(r, 65536)
    if not chunk:
        break
    buf += chunk
    while len(buf) >= 4:
        n = int.from_bytes(buf[:4], "big")
        if len(buf) < 4 + n:
            break
        os.write(w, bytes(buf[:4 + n]))
        del buf[:4 + n]
"""


def summarize(name: str, samples: list[float], base_p50: float | None) -> str:
    samples.sort()
    p50 = samples[len(samples) // 2] * 1e6
    p99 = samples[int(len(samples) * 0.99)] * 1e6
    rate = len(samples) / sum(samples)
    ratio = f"{p50 / base_p50:5.2f}x" if base_p50 else "     -"
    return f"{name:<16} p50 {p50:8.1f} us   p99 {p99:8.1f} us   {rate:9,.0f} calls/s   p50 vs spinning raw pipe {ratio}"


def raw_pipe(calls: int, spin: float) -> list[float]:
    """Echo of 24-byte frames. With `spin`, both sides poll without sleeping for that long before
    blocking, as plughost's session and SDK runner do: the fair floor for them."""
    proc = subprocess.Popen([sys.executable, "-c", ECHO, str(spin)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=0)
    assert proc.stdin and proc.stdout
    w, r = proc.stdin.fileno(), proc.stdout.fileno()
    poll = select.poll()
    poll.register(r, select.POLLIN)
    frame = (20).to_bytes(4, "big") + b"x" * 20
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        os.write(w, frame)
        deadline = time.perf_counter() + spin
        while spin and not poll.poll(0) and time.perf_counter() < deadline:
            pass
        got = b""
        while len(got) < len(frame):
            got += os.read(r, 65536)
        out.append(time.perf_counter() - t)
    proc.stdin.close()
    proc.wait()
    return out


def one_candle() -> CandleBatch:
    return CandleBatch(["B"], 0, np.array([0], np.int64), np.array([1.0]), np.array([2.0]), np.array([0.5]),
                       np.array([1.5]), np.array([10.0]), np.zeros(1, np.int32))


def plugin_rows(spec: LaunchSpec, calls: int) -> tuple[list[float], list[float], float]:
    t0 = time.perf_counter()
    proxy = start_plugin(spec, timeouts=Timeouts(start=30, call=30))
    cold = time.perf_counter() - t0
    try:
        proxy.initialize({}, "bench")
        pings = []
        for _ in range(calls):
            t = time.perf_counter()
            proxy.ping({"t": 1})
            pings.append(time.perf_counter() - t)
        batch = one_candle()
        candles = []
        for _ in range(calls):
            t = time.perf_counter()
            proxy.run_batch(batch)  # type: ignore[union-attr]
            candles.append(time.perf_counter() - t)
        return pings, candles, cold
    finally:
        proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--node-spin", nargs="+", choices=["auto", "always", "never"], default=["auto"])
    args = parser.parse_args()
    print(summarize("raw pipe", raw_pipe(args.calls, 0.0), None))
    base = raw_pipe(args.calls, SPIN_SECONDS)
    base_p50 = sorted(base)[len(base) // 2] * 1e6
    print(summarize("raw pipe, spin", base, None))
    py = REPO / "tests" / "fixtures" / "plugins" / "python" / "noop_strategy.py"
    pings, candles, cold = plugin_rows(LaunchSpec("noop", "strategy", "python", py, py.parent), args.calls)
    print(summarize("python ping", pings, base_p50))
    print(summarize("python candle", candles, base_p50))
    print(f"{'python cold start':<16} {cold * 1000:.1f} ms (spawn to handshake)")
    js = REPO / "tests" / "fixtures" / "plugins" / "node" / "noop-strategy.js"
    if node_runner().is_file() and js.is_file():
        for mode in args.node_spin:
            spec = LaunchSpec("noop-js", "strategy", "javascript", js, js.parent, {"PLUGHOST_NODE_SPIN": mode})
            pings, candles, cold = plugin_rows(spec, args.calls)
            tag = f" {mode}" if args.node_spin != ["auto"] else ""
            print(summarize(f"node ping{tag}", pings, base_p50))
            print(summarize(f"node candle{tag}", candles, base_p50))
            print(f"{'node cold start':<16} {cold * 1000:.1f} ms (spawn to handshake)")
    else:
        print("node: skipped (build the TypeScript SDK with `make setup`)")
    print(f"(median of {args.calls} calls each; machine load makes single runs noisy: compare ratios)")


if __name__ == "__main__":
    main()
