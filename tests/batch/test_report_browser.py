"""report.html in real headless Chromium (Chrome DevTools protocol over --remote-debugging-pipe): it renders
the runs table and the equity chart, sorts, makes no network request and logs no console error."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from plughost.batch import load_batch, run_batch
from plughost.registry import Registry

from .conftest import PLUGINS, REPO, write_batch

ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("Debian's chromium is not installed and this user cannot install it "
                    "(run `apt-get install -y chromium` as root)")
    proc = subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=600)
    found = shutil.which("chromium")
    if proc.returncode != 0 or not found:
        pytest.skip(f"could not install chromium with apt-get: {proc.stderr.strip()[-300:]}")
    return found


class DevTools:
    """A minimal CDP client over the pipe pair Chrome reads on fd 3 and writes on fd 4 (NUL-separated JSON)."""

    def __init__(self, binary: str, profile: str) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # move Chrome's ends above 4 so that the shell's redirections cannot clobber one with the other
        for name in ("to_chrome_r", "from_chrome_w"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "to_chrome_r":
                to_chrome_r = high
            else:
                from_chrome_w = high
        argv = " ".join(shlex.quote(a) for a in [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"])
        self.proc = subprocess.Popen(  # bash puts the pipes on fds 3 and 4, where Chrome expects them
            ["bash", "-c", f"exec {argv} 3<&{to_chrome_r} 4>&{from_chrome_w}"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            import select

            if not select.select([self._r], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the devtools pipe")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return dict(json.loads(msg))

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result") or {})
            self.events.append(reply)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(self._read(max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                return

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    runs: list[dict[str, Any]] = [{"strategy": "toy", "candles": str(data_dir / f"c{i}.parquet"),
                                   "config": {"n": n}, "features": ["tally"]} for i in range(3) for n in (5, 20)]
    runs.append({"strategy": "toy", "candles": str(data_dir / "c0.parquet"), "config": {"mode": "raise"}})
    batch = load_batch(write_batch(tmp / "b.json", {"runs": runs}))
    result = run_batch(batch, tmp / "out", registry=Registry.discover([PLUGINS]), workers=2)
    assert result.report is not None
    return result.report


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text()
    for needle in ("http:", "https:", "//cdn", "<link", "src=", "@import", "url("):
        assert needle not in text, needle


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    binary = chromium()
    profile = tempfile.mkdtemp(prefix="chp-")  # short: Chrome puts a unix socket in it
    tools = DevTools(binary, profile)
    try:
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            tools.call(f"{domain}.enable", session=session)
        tools.call("Emulation.setDeviceMetricsOverride",
                   {"width": 1280, "height": 1800, "deviceScaleFactor": 1, "mobile": False}, session=session)
        tools.events.clear()
        tools.call("Page.navigate", {"url": report.as_uri()}, session=session)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in tools.events):
            assert time.monotonic() < deadline, "report.html never finished loading"
            tools.drain(0.2)
        tools.drain(0.5)

        def js(expr: str) -> Any:
            out = tools.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
            assert "exceptionDetails" not in out, out
            return out["result"].get("value")

        assert js("document.querySelectorAll('#runs tbody tr').length") == 7
        assert js("document.querySelectorAll('#equity-chart polyline.equity-line').length") == 5
        assert js("document.getElementById('equity-chart').getBoundingClientRect().height") > 100
        assert js("document.querySelectorAll('.failure').length") == 1
        assert js("document.querySelectorAll('#plugin-metrics tbody tr').length") == 6
        # sorting: click "return %" twice -> descending by the numeric value
        js("Array.from(document.querySelectorAll('#runs thead th')).find(t => t.textContent === 'return %').click()")
        js("Array.from(document.querySelectorAll('#runs thead th')).find(t => t.textContent === 'return %').click()")
        col = js("Array.from(document.querySelectorAll('#runs thead th')).findIndex(t => t.textContent === 'return %')")
        values = js(f"Array.from(document.querySelectorAll('#runs tbody tr')).map(r => r.cells[{col}]"
                    ".getAttribute('data-v')).filter(v => v !== '').map(Number)")
        assert values == sorted(values, reverse=True) and len(values) == 6
        shot = tools.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "batch-report.png").write_bytes(base64.b64decode(shot["data"]))
        requests = [e["params"]["request"]["url"] for e in tools.events
                    if e.get("method") == "Network.requestWillBeSent"]
        assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
        errors = [e for e in tools.events if (e.get("method") == "Runtime.consoleAPICalled"
                                              and e["params"].get("type") in ("error", "assert"))
                  or e.get("method") == "Runtime.exceptionThrown"
                  or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
        assert not errors, errors
    finally:
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)
