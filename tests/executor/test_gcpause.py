"""The collector pause around a run's batch loop resumes what it paused, and only that."""

from __future__ import annotations

import gc

import pytest
from plughost.executor.gcpause import collector_paused


def test_the_collector_is_off_inside_and_back_on_after_even_when_the_loop_raises() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a plugin failed mid-run")
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
