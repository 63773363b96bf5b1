"""The HTML reports in real headless Chromium (Chrome DevTools protocol over --remote-debugging-pipe): the
overview and every run page render, every link leads to a file that exists and loads, the charts exist and
answer to hover and zoom, tables sort, the heatmap renders for a two-parameter sweep, no request leaves
the folder and nothing is logged as an error. Screenshots land in test-artifacts/."""

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from plughost.batch import load_batch, run_batch
from plughost.executor.chart import CHART_FILE
from plughost.plugins.registry import Registry
from plughost.reports.pages import ASSETS, CHART_LIBRARY

from .conftest import PLUGHOST, PLUGINS, REPO, write_batch, write_candles

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


class Page:
    """One tab: navigate, wait for the load event, evaluate JavaScript, collect requests and errors."""

    def __init__(self, tools: DevTools) -> None:
        self.tools = tools
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            tools.call(f"{domain}.enable", session=self.session)
        tools.call("Emulation.setDeviceMetricsOverride",
                   {"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": False}, session=self.session)
        self.requests: list[str] = []
        self.errors: list[dict[str, Any]] = []

    def _collect(self) -> None:
        for e in self.tools.events:
            if e.get("sessionId") not in (None, self.session):
                continue
            method = e.get("method")
            if method == "Network.requestWillBeSent":
                self.requests.append(e["params"]["request"]["url"])
            elif ((method == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
                  or method == "Runtime.exceptionThrown"
                  or (method == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")):
                self.errors.append(e)
        self.tools.events.clear()

    def open(self, url: str) -> None:
        self._collect()
        result = self.tools.call("Page.navigate", {"url": url}, session=self.session)
        assert not result.get("errorText"), f"{url}: {result.get('errorText')}"
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.tools.events):
            assert time.monotonic() < deadline, f"{url} never finished loading"
            self.tools.drain(0.2)
        self.tools.drain(0.4)  # charts draw in animation frames after load
        self._collect()

    def js(self, expr: str) -> Any:
        out = self.tools.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                              session=self.session)
        assert "exceptionDetails" not in out, out
        return out["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.tools.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **extra}, session=self.session)
        self.tools.drain(0.15)

    def screenshot(self, name: str) -> None:
        shot = self.tools.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                               session=self.session)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    binary = chromium()
    profile = tempfile.mkdtemp(prefix="chp-")  # short: Chrome puts a unix socket in it
    tools = DevTools(binary, profile)
    try:
        yield Page(tools)
    finally:
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)


SWEEP = {"n": [5, 10, 20], "delay_ms": [0, 1]}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A folder as users make them: a batch (a 3 x 2 sweep with features, a run with indicators, a failing run,
    a run whose candle file is deleted afterwards), then a single `plughost run` into the same folder."""
    tmp = tmp_path_factory.mktemp("report")
    gone = write_candles(tmp / "gone.parquet", 300, seed=9)
    write_candles(tmp / "kept.parquet", 300, seed=10)
    batch = {
        "runs": [
            {"id": "with-indicators", "strategy": "toy", "candles": str(data_dir / "c1.parquet"), "config": {"n": 8},
             "indicators": {"sma_20": {"type": "sma", "period": 20}, "rsi_14": {"type": "rsi", "period": 14}}},
            {"id": "broken", "strategy": "toy", "candles": str(data_dir / "c0.parquet"), "config": {"mode": "raise"}},
            {"id": "no-candles", "strategy": "toy", "candles": "gone.parquet", "config": {"n": 7}},
            # relative to the batch file, which is not where `plughost report` runs
            {"id": "relative", "strategy": "toy", "candles": "kept.parquet", "config": {"n": 6}},
        ],
        "sweeps": [{"id": "grid", "strategy": "toy", "candles": str(data_dir / "c0.parquet"),
                    "features": ["tally", "artist"], "grid": SWEEP}],
    }
    out = tmp / "out"
    result = run_batch(load_batch(write_batch(tmp / "b.json", batch)), out, registry=Registry.discover([PLUGINS]),
                       workers=2)
    assert result.report == out / "report.html"
    single = subprocess.run([str(PLUGHOST), "run", "--strategy", "toy", "--candles", str(data_dir / "c2.parquet"),
                             "--out", str(out), "--run-id", "single", "--plugins-dir", str(PLUGINS)],
                            capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    assert (out / "runs" / "single" / "report.html").is_file()
    gone.unlink()  # the run keeps its charts: the engine sampled them into chart.parquet
    (out / "runs" / "relative" / CHART_FILE).unlink()  # as a run of an older version: charted from its file
    rewrite = subprocess.run([str(PLUGHOST), "report", str(out)], capture_output=True, text=True, timeout=120,
                             cwd=REPO)
    assert rewrite.returncode == 0, rewrite.stderr
    assert rewrite.stdout.strip() == str(out / "report.html")
    return out


def test_pages_are_self_contained(results: Path) -> None:
    library = (ASSETS / CHART_LIBRARY).read_text()
    for page in [results / "report.html", *sorted((results / "runs").glob("*/report.html"))]:
        text = page.read_text()
        assert library in text  # inlined whole
        text = text.replace(library, "")  # its own inline SVG logo (switched off) is no request
        for needle in ("<link", " src=", "@import", "url(", "<iframe"):
            assert needle not in text, (page, needle)


def _local_target(url: str, root: Path) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", f"link leaves the folder: {url}"
    path = Path(unquote(parts.path))
    assert path.resolve().is_relative_to(root.resolve()), f"link leaves the folder: {url}"
    assert path.is_file(), f"broken link: {url}"
    return path


def test_every_link_works_and_every_page_renders(results: Path, browser: Page) -> None:
    """Crawl from the overview: each href names a file in the folder that loads without errors; each run page
    has its charts (or says why not)."""
    start = (results / "report.html").as_uri()
    seen: set[str] = set()
    queue = [start]
    pages = 0
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        path = _local_target(url, results)
        browser.open(url)
        pages += 1
        if path.suffix != ".html":
            assert browser.js("document.body !== null")
            continue
        if path.name == "report.html" and path.parent.parent.name == "runs":
            _check_run_page(browser, path.parent.name)
        links = browser.js("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for link in links:
            target, _, fragment = link.partition("#")
            if fragment and target == url:  # an anchor on this page
                assert browser.js(f"document.getElementById({json.dumps(unquote(fragment))}) !== null"), link
                continue
            queue.append(target)
    run_ids = sorted(p.name for p in (results / "runs").iterdir() if not p.name.startswith("."))
    assert len(run_ids) == 4 + 6 + 1
    for run_id in run_ids:  # every run page was reached from the overview
        assert (results / "runs" / run_id / "report.html").as_uri() in seen, run_id
    assert any(u.endswith("/artifacts/artist/page.html") for u in seen)
    assert any(u.endswith("/artifacts/artist/notes.txt") for u in seen)
    assert pages > 20
    assert all(u.startswith(("file:", "data:", "about:", "blob:")) for u in browser.requests), browser.requests
    assert not browser.errors, browser.errors


def _check_run_page(page: Page, run_id: str) -> None:
    status = page.js("document.querySelector('h1 span').textContent")
    if run_id == "broken":
        assert status == "failed"
        assert "PLUGIN_ERROR" in page.js("document.getElementById('error').textContent")
        assert "toy raised on purpose" in page.js("document.getElementById('stderr-tail').textContent")
        assert page.js("document.getElementById('metrics')") is None  # no partial metrics
        assert page.js("document.querySelectorAll('canvas').length") == 0
        page.screenshot("report-run-failed.png")
        return
    assert status == "ok"
    assert page.js("document.querySelectorAll('#metrics tr').length") > 5
    assert page.js("document.querySelectorAll('#equity-chart canvas').length") > 0
    assert page.js("document.getElementById('equity-chart').getBoundingClientRect().height") > 200
    assert page.js("document.querySelectorAll('#price-chart-0 canvas').length") > 0
    assert page.js("REPORT.charts[0].bars.t.length") == page.js("REPORT.charts[0].bars.c.length") > 100
    trades = page.js("document.querySelectorAll('#trades tbody tr').length")
    assert trades > 0 and page.js("REPORT.charts[0].markers.length") == 2 * trades
    assert page.js("REPORT.equity.bh.length") == page.js("REPORT.equity.t.length")
    assert page.js("Math.max(...REPORT.equity.dd)") <= 0 < page.js("REPORT.equity.t.length")
    if run_id == "with-indicators":
        assert page.js("REPORT.charts[0].indicators.map(i => i.name + ':' + i.pane)") == ["sma_20:0", "rsi_14:1"]
        assert page.js("priceCharts[0].chart.panes().length") == 2
        _hover_and_zoom(page)
        page.screenshot("report-run.png")
    if run_id == "relative":
        assert page.js("REPORT.charts[0].bars.t.length") == 300
    if run_id.startswith("grid-"):
        assert page.js("document.querySelectorAll('#params .card').length") == 2
        assert page.js("document.querySelectorAll('#artifacts a').length") == 2
    _check_sorting(page, "trades", "P&L")


def _hover_and_zoom(page: Page) -> None:
    box = page.js("(() => { const r = document.getElementById('price-chart-0').getBoundingClientRect();"
                  " window.scrollTo(0, r.top + window.scrollY - 100);"
                  " const q = document.getElementById('price-chart-0').getBoundingClientRect();"
                  " return [q.left, q.top, q.width, q.height]; })()")
    left, top, width, height = box
    before = page.js("document.getElementById('price-legend-0').textContent")
    page.mouse("mouseMoved", left + width * 0.3, top + height * 0.5)
    hovered = page.js("document.getElementById('price-legend-0').textContent")
    assert hovered != before and "O " in hovered  # the legend follows the crosshair
    span = "(() => { const r = priceCharts[0].chart.timeScale().getVisibleLogicalRange(); return r.to - r.from; })()"
    wide = page.js(span)
    for _ in range(3):
        page.mouse("mouseWheel", left + width * 0.5, top + height * 0.5, deltaX=0, deltaY=-300)
    assert page.js(span) < wide * 0.9  # zoomed in
    page.tools.drain(0.3)
    shown = "(c => { const r = c.timeScale().getVisibleRange(); return [r.from, r.to]; })"
    price_range, equity_range = page.js(f"{shown}(priceCharts[0].chart)"), page.js(f"{shown}(echart)")
    assert abs(equity_range[0] - price_range[0]) <= 120 and abs(equity_range[1] - price_range[1]) <= 120  # in step
    moved_from = page.js("priceCharts[0].chart.timeScale().getVisibleLogicalRange().from")
    page.mouse("mousePressed", left + width * 0.5, top + height * 0.5, button="left", clickCount=1)
    for step in range(1, 7):
        page.mouse("mouseMoved", left + width * (0.5 + 0.05 * step), top + height * 0.5, button="left", buttons=1)
    page.mouse("mouseReleased", left + width * 0.8, top + height * 0.5, button="left", clickCount=1)
    assert page.js("priceCharts[0].chart.timeScale().getVisibleLogicalRange().from") < moved_from  # panned


def _check_sorting(page: Page, table: str, header: str) -> None:
    find = f"Array.from(document.querySelectorAll('#{table} thead th')).findIndex(t => t.textContent === '{header}')"
    col = page.js(find)
    assert col >= 0
    for _ in range(2):  # ascending, then descending
        page.js(f"document.querySelectorAll('#{table} thead th')[{col}].click()")
    values = page.js(f"Array.from(document.querySelectorAll('#{table} tbody tr')).map(r => r.cells[{col}]"
                     ".getAttribute('data-v')).filter(v => v !== '' && v !== null).map(Number)")
    assert values == sorted(values, reverse=True) and values


def test_overview_ranks_sorts_and_draws_the_heatmap(results: Path, browser: Page) -> None:
    browser.open((results / "report.html").as_uri())
    assert browser.js("document.querySelectorAll('#runs tbody tr').length") == 11
    params = browser.js("Array.from(document.querySelectorAll('#runs th.param')).map(t => t.textContent)")
    assert params == ["n", "delay_ms"]
    # grid values in their own columns, one row per point
    n_col = browser.js("Array.from(document.querySelectorAll('#runs thead th')).findIndex(t => t.textContent === 'n')")
    grid_n = browser.js(f"Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => r.dataset.run"
                        f".startsWith('grid-')).map(r => Number(r.cells[{n_col}].textContent)).sort((a, b) => a - b)")
    assert grid_n == [5, 5, 10, 10, 20, 20]
    # ranking by another metric: best first, failed run (no metrics) last
    browser.js("const s = document.getElementById('rank-metric'); s.value = 'sharpe';"
               " s.dispatchEvent(new Event('change'))")
    order = browser.js("Array.from(document.querySelectorAll('#runs tbody tr')).map(r => r.dataset.run)")
    sharpe = browser.js(f"{json.dumps(order)}.map(id => RUNS[id].metrics.sharpe ?? null)")
    ranked = [v for v in sharpe if v is not None]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) >= 8
    assert order[-1] == "broken"
    assert browser.js("document.querySelector('#runs tbody tr td.rank').textContent") == "1"
    _check_sorting(browser, "runs", "return %")
    # the heatmap: n down, delay_ms across, coloured cells with the mean of the metric
    assert browser.js("document.querySelectorAll('#heatmap tbody tr').length") == 3
    assert browser.js("document.querySelectorAll('#heatmap td.heat-cell').length") == 6
    assert browser.js("Array.from(document.querySelectorAll('#heatmap td.heat-cell'))"
                      ".every(td => td.style.background.startsWith('rgb') && td.textContent !== '')")
    first = browser.js("document.querySelector('#heatmap td.heat-cell').textContent")
    browser.js("const m = document.getElementById('heat-metric'); m.value = 'num_trades';"
               " m.dispatchEvent(new Event('change'))")
    assert browser.js("document.querySelector('#heatmap td.heat-cell').textContent") != first
    assert browser.js("document.querySelectorAll('#heatmap td.heat-cell a').length") == 6  # one run per cell
    browser.js("const y = document.getElementById('heat-y'); y.value = 'delay_ms';"
               " y.dispatchEvent(new Event('change'));"
               " const x = document.getElementById('heat-x'); x.value = 'n'; x.dispatchEvent(new Event('change'))")
    assert browser.js("document.querySelectorAll('#heatmap tbody tr').length") == 2
    # failures with their code, message and stderr tail
    assert browser.js("document.querySelectorAll('.failure').length") == 1
    text = browser.js("document.getElementById('fail-broken').textContent")
    assert "PLUGIN_ERROR" in text and "toy raised on purpose" in text
    assert browser.js("document.querySelectorAll('#best-chart canvas').length") > 0
    browser.screenshot("report-overview.png")
    assert all(u.startswith(("file:", "data:", "about:", "blob:")) for u in browser.requests), browser.requests
    assert not browser.errors, browser.errors


def test_the_folder_can_be_moved(results: Path, tmp_path: Path, browser: Page) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(results, moved)
    browser.open((moved / "report.html").as_uri())
    links = browser.js("Array.from(document.querySelectorAll('#runs a[href]')).map(a => a.href)")
    assert links and all(_local_target(u, moved) for u in links)
    browser.open(links[0])
    assert browser.js("document.getElementById('back').href") == (moved / "report.html").as_uri()


def test_a_folder_of_failed_runs_only(results: Path, tmp_path: Path, browser: Page) -> None:
    """No metric anywhere: the overview still renders (no ranking, an empty heatmap) without a script error."""
    only = tmp_path / "failed-only"
    shutil.copytree(results / "runs" / "broken", only / "runs" / "broken")
    proc = subprocess.run([str(PLUGHOST), "report", str(only)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    browser.open((only / "report.html").as_uri())
    assert browser.js("document.querySelectorAll('#runs tbody tr').length") == 1
    assert browser.js("document.querySelectorAll('.failure').length") == 1
    browser.open((only / "runs" / "broken" / "report.html").as_uri())
    assert not browser.errors, browser.errors
