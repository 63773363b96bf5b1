"""Within process isolation: a plugin sees only the allow-listed environment plus what its run grants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plughost.transport.env import ALLOWED, ALLOWED_PREFIXES

from tests.faults.conftest import LANGS, STRATEGY, TOKEN_VAR, Runner

SECRETS = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "BROKER_API_KEY": "bk-123", "GITHUB_TOKEN": "ghp_x",
           "DATABASE_URL": "postgres://u:p@h/db"}
# Added by the host for the runner itself, and by the runtimes at start-up.
LANGUAGE_VARS = {"PYTHONPATH", "NODE_PATH", "LC_CTYPE"}


@pytest.mark.parametrize("lang", LANGS)
def test_host_secrets_are_not_visible_to_plugins(runner: Runner, lang: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    dump = tmp_path / "env.json"
    outcome = runner.run(STRATEGY[lang], "env_dump", env={"FAULT_OUT": str(dump), "GRANTED_VAR": "yes"})
    assert outcome.status == "ok", outcome.summary["error"]
    env = json.loads(dump.read_text())
    for key, value in SECRETS.items():
        assert key not in env
        assert value not in json.dumps(env)
    assert env["GRANTED_VAR"] == "yes" and env["LANG"] == "C.UTF-8"  # granted by the run; allow-listed
    granted = {"FAULT", "FAULT_OUT", "GRANTED_VAR", TOKEN_VAR}
    unexpected = {k for k in env if k not in ALLOWED and not k.startswith(ALLOWED_PREFIXES)
                  and not k.startswith("PLUGHOST_") and k not in granted | LANGUAGE_VARS}
    assert not unexpected, f"variables a plugin should not get: {sorted(unexpected)}"


@pytest.mark.parametrize("lang", LANGS)
def test_plugins_are_never_told_the_host_pid(runner: Runner, lang: str, tmp_path: Path) -> None:
    import os

    dump = tmp_path / "env.json"
    outcome = runner.run(STRATEGY[lang], "env_dump", env={"FAULT_OUT": str(dump)})
    assert outcome.status == "ok", outcome.summary["error"]
    env = json.loads(dump.read_text())
    assert "PLUGHOST_HOST_PID" not in env
    assert str(os.getpid()) not in env.values()
    assert env.get("PLUGHOST_HOST_SESSION")  # what a plugin gets instead: an opaque session id


def test_the_host_is_not_dumpable_once_it_starts_plugins(runner: Runner) -> None:
    """PR_SET_DUMPABLE 0: /proc/<host>/environ, mem and ptrace are closed to processes of the same user."""
    from plughost.transport.env import is_dumpable

    assert runner.run(STRATEGY["py"]).status == "ok"
    assert is_dumpable() is False
    import os

    assert os.stat(f"/proc/{os.getpid()}/environ").st_uid == 0  # owned by root once not dumpable


def test_the_cli_is_not_dumpable(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("from plughost.transport.env import is_dumpable; from plughost.cli import main; import sys; "
            "sys.argv=['plughost','list-plugins','--plugins-dir', sys.argv[1]]\n"
            "try: main()\nexcept SystemExit: pass\nprint(is_dumpable())")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
