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
