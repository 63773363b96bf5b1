"""`--sandbox`: a plugin that looks for secrets, the network and files finds nothing, and the same plugin
sandboxed trades exactly as unsandboxed, in both languages, in single runs and batches."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from plughost.errors import SandboxUnavailable
from plughost.transport.sandbox import bwrap_path, check_available

from .conftest import plughost, write_json

try:
    check_available()
    WHY_NOT = ""
except SandboxUnavailable as exc:
    WHY_NOT = str(exc)

pytestmark = pytest.mark.skipif(bool(WHY_NOT), reason=f"no sandbox here: {WHY_NOT}")
HAVE_BWRAP = bool(bwrap_path()) and not WHY_NOT and not check_available().startswith("unshare:")


@pytest.fixture(params=["bwrap", "unshare"])
def backend(request: pytest.FixtureRequest, home: dict[str, str]) -> dict[str, str]:
    """The environment selecting a sandbox tool: bubblewrap, or the unshare fallback (bwrap hidden)."""
    if request.param == "bwrap":
        if not HAVE_BWRAP:
            pytest.skip("bubblewrap is not installed")
        return home
    return {**home, "PLUGHOST_BWRAP": "/nonexistent/bwrap"}


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def bait(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "private.txt").write_text("not for plugins")
    return folder


def probe_env(secret: str, port: int, bait: Path) -> dict[str, str]:
    return {"PROBE": "1", "PROBE_SECRET_HEX": secret.encode().hex(), "PROBE_PORT": str(port), "PROBE_DIR": str(bait)}


def run_snoop(tmp_path: Path, candles: Path, plugins: Path, home: dict[str, str], run_id: str, env: dict[str, str],
              *extra: str, secret: str) -> tuple[int, dict[str, object], str]:
    batch = write_json(tmp_path / f"{run_id}.json", {"runs": [
        {"id": run_id, "strategy": "snoop", "candles": str(candles), "env": env}]})
    res = plughost("run", "--batch", batch, "--out", tmp_path / "out", "--plugins-dir", plugins, "--workers", "1",
                   *extra, env={**home, "HOST_API_KEY": secret})
    res.assert_clean()
    summary = json.loads((tmp_path / "out" / "runs" / run_id / "summary.json").read_text())
    return res.code, summary, res.err


def test_sandboxed_plugin_reaches_no_secret_port_file_or_folder(tmp_path: Path, candles: Path, plugins: Path,
                                                                 backend: dict[str, str], listener: int,
                                                                 bait: Path) -> None:
    home = backend
    secret = f"sk-{uuid.uuid4().hex}"
    env = probe_env(secret, listener, bait)
    # unsandboxed first: proves the probe finds what it looks for (as root it reads every environ)
    code, open_summary, _ = run_snoop(tmp_path, candles, plugins, home, "open", env, secret=secret)
    assert code == 1
    reached = open_summary["error"]["message"]  # type: ignore[index]
    assert f"connected to 127.0.0.1:{listener}" in reached and f"listed {bait}" in reached
    if os.geteuid() == 0:
        assert "secret in /proc/" in reached
    (bait / "written-by-plugin").unlink(missing_ok=True)
    (plugins / "strategies" / "snoop" / "written-by-plugin").unlink(missing_ok=True)
    before = sorted(os.listdir("/tmp"))
    code, boxed, err = run_snoop(tmp_path, candles, plugins, home, "boxed", {**env, "PROBE_WRITE_SYSTEM": "1"},
                                 "--sandbox", secret=secret)
    assert code == 0, (boxed["error"], err)
    assert boxed["status"] == "ok"
    assert sorted(p.name for p in bait.iterdir()) == ["private.txt"]  # nothing written beside it
    assert not (plugins / "strategies" / "snoop" / "written-by-plugin").exists()
    assert not Path("/var/tmp/written-by-plugin").exists()
    assert not any(n.startswith("snoop-") for n in set(os.listdir("/tmp")) - set(before))  # its /tmp was private


def test_sandbox_gives_identical_trades_in_both_languages(tmp_path: Path, candles: Path, plugins: Path,
                                                          backend: dict[str, str]) -> None:
    home = backend
    for strategy in ("snoop", "simple-ma", "sma-cross"):
        trades = []
        for flag in ((), ("--sandbox",)):
            out = tmp_path / f"out-{strategy}-{len(flag)}"
            res = plughost("run", "--strategy", strategy, "--candles", candles, "--out", out, "--run-id", "r",
                           "--plugins-dir", plugins, "--feature", "custom-metrics", *flag, env=home)
            assert res.code == 0, res.err
            trades.append(pq.read_table(out / "runs" / "r" / "trades.parquet"))
        assert trades[0].num_rows > 0 and trades[0].equals(trades[1]), strategy


def test_sandbox_batch_key_and_warm_starts(tmp_path: Path, candles: Path, plugins: Path,
                                           home: dict[str, str]) -> None:
    """`sandbox = true` in a batch: those plugins start cold; the batch's other runs keep warm starts."""
    batch = write_json(tmp_path / "b.json", {"batch": {"warm_starts": True}, "runs": [
        {"id": "boxed", "strategy": "toy", "candles": str(candles), "sandbox": True, "features": ["tally"]},
        {"id": "plain", "strategy": "toy", "candles": str(candles), "features": ["tally"]}]})
    res = plughost("run", "--batch", batch, "--out", tmp_path / "out", "--plugins-dir", plugins, "--json", env=home)
    res.assert_clean()
    assert res.code == 0, res.err
    rows = {r["run_id"]: r for r in json.loads(res.out)}
    assert rows["boxed"]["metrics"] == rows["plain"]["metrics"]
    assert rows["boxed"]["plugin_metrics"] == rows["plain"]["plugin_metrics"]


def test_sandbox_unavailable_is_a_clear_error(tmp_path: Path, candles: Path, plugins: Path,
                                              home: dict[str, str]) -> None:
    res = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", tmp_path / "out", "--sandbox",
                   "--plugins-dir", plugins, env={**home, "PLUGHOST_BWRAP": "/nonexistent/bwrap",
                                                  "PLUGHOST_UNSHARE": "/nonexistent/unshare"})
    res.assert_clean()
    assert res.code == 2 and "SANDBOX_UNAVAILABLE" in res.err, res.err
