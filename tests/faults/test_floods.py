"""Floods: a plugin that writes without end to stderr never blocks the host or itself, and the host keeps
only a bounded, marked tail."""

from __future__ import annotations

import psutil
import pytest
from plughost.transport.stderr import TAIL_BYTES

from tests.faults.conftest import LANGS, STRATEGY, Runner, failed_error, fingerprint


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.parametrize("fault", ["stderr_flood", "log_lines"])
@pytest.mark.parametrize("lang", LANGS)
def test_stderr_flood_does_not_deadlock_and_the_run_succeeds(runner: Runner, lang: str, fault: str) -> None:
    # 10 MB without a newline, or a million short lines (~15 MB), written mid-call before answering.
    name = STRATEGY[lang]
    runner.baseline(name)
    before = rss_mb()
    outcome = runner.run(name, fault)
    assert outcome.status == "ok", outcome.summary["error"]
    assert fingerprint(outcome) == runner.baseline(name)
    assert rss_mb() - before < 30, "the host kept the flood in memory"


@pytest.mark.parametrize("lang", LANGS)
def test_stderr_tail_is_truncated_and_marked(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    error = failed_error(runner.run(name, "stderr_flood_crash"), "PLUGIN_CRASHED", name)
    assert error["exit_code"] == 5
    assert error["stderr_truncated"] is True
    tail = error["stderr_tail"]
    assert tail.startswith("[... ") and "earlier bytes of stderr truncated" in tail.splitlines()[0]
    assert len(tail.encode()) <= TAIL_BYTES + 200
    assert tail.rstrip().endswith("E" * 100)  # the newest bytes are the ones kept
    runner.assert_clean_run_identical(name)
