"""The error tree's records: read-only once made, changed only as copies, and the batch's policy read from
the class a code names."""

from __future__ import annotations

import pytest
from plughost import errors
from plughost.batch.spec import BatchOptions


def _plugin_error() -> errors.PluginError:
    return errors.PluginError("plugin 'p' raised ValueError in on_candle at candle 3 of the batch: bad",
                              plugin="p", error_type="ValueError", traceback="Traceback ...", at=3, hook="on_candle")


@pytest.mark.parametrize("field", ["message", "hint", "plugin", "hook", "candle", "anything"])
def test_an_error_is_read_only_once_made(field: str) -> None:
    error = _plugin_error()
    with pytest.raises(AttributeError, match="immutable"):
        setattr(error, field, "changed")
    with pytest.raises(AttributeError, match="immutable"):
        delattr(error, "message")
    assert error.message.startswith("plugin 'p' raised") and error.hint is None


def test_subclass_fields_are_set_before_the_record_is_sealed() -> None:
    lost = errors.WorkerLost("the worker died", exit_code=-9)
    assert lost.exit_code == -9 and lost.to_dict()["exit_code"] == -9
    with pytest.raises(AttributeError):
        lost.exit_code = 0  # type: ignore[misc]


def test_evolve_is_a_changed_copy() -> None:
    error = _plugin_error()
    changed = error.evolve(hint="do this", hook="initialize")
    assert type(changed) is errors.PluginError
    assert (changed.hint, changed.hook, changed.message) == ("do this", "initialize", error.message)
    assert (error.hint, error.hook) == (None, "on_candle")  # the original is untouched
    assert str(changed).startswith(error.message) and "-> do this" in str(changed)
    with pytest.raises(AttributeError):
        changed.hint = "again"
    with pytest.raises(TypeError, match="no field"):
        error.evolve(nonsense=1)


def test_evolve_of_the_message_changes_args_and_to_dict() -> None:
    error = errors.ConfigError("bad key", plugin="p", problems=["/x: wrong"])
    changed = error.evolve(message="batch.toml: run 0, key 'config': bad key")
    assert changed.args == ("batch.toml: run 0, key 'config': bad key",)
    assert changed.to_dict() == {"code": "CONFIG_INVALID", "message": "batch.toml: run 0, key 'config': bad key",
                                 "plugin": "p", "problems": ["/x: wrong"]}


def test_the_interpreter_may_still_annotate_a_raised_error() -> None:
    with pytest.raises(errors.PluginError) as info:
        try:
            raise _plugin_error()
        except errors.PluginError as exc:
            exc.add_note("while running batch 0")
            raise exc.evolve(hint="h") from exc
    assert info.value.__cause__ is not None and info.value.hint == "h"


def test_located_names_the_candle_in_a_copy() -> None:
    error = _plugin_error()
    located = error.located("BTCUSDT", 1_700_000_000_000)
    assert located.candle == {"symbol": "BTCUSDT", "timestamp": 1_700_000_000_000}
    assert "on the BTCUSDT candle of 2023-11-14T22:13:20+00:00" in located.message
    assert "at candle 3" not in located.message and located.to_dict()["candle"] == located.candle
    assert error.candle is None and "at candle 3 of the batch" in error.message


def test_the_batch_policy_is_read_from_the_class_a_code_names() -> None:
    assert errors.error_class("PLUGIN_CRASHED") is errors.PluginCrashed
    assert errors.error_class("CONFIG_INVALID") is errors.ConfigError  # not its child BatchFileError
    assert errors.error_class("PLUGIN_FAILURE") is errors.PluginFailure
    assert errors.error_class("NO_SUCH_CODE") is None and errors.error_class(None) is None
    retryable = {cls.code for cls in errors.error_classes() if cls.retryable}
    assert retryable == {"PLUGIN_CRASHED", "PLUGIN_TIMEOUT", "PLUGIN_START_TIMEOUT", "WORKER_LOST"}
    assert BatchOptions().retryable == retryable
    assert BatchOptions(retry_errors=("PLUGIN_ERROR",)).retryable == retryable | {"PLUGIN_ERROR"}
    starts = {cls.code for cls in errors.error_classes() if cls.start_failure}
    assert starts == {"PLUGIN_SPAWN_FAILED", "PLUGIN_START_TIMEOUT", "PLUGIN_HANDSHAKE_FAILED"}
    assert {cls.code for cls in errors.error_classes() if cls.init_crash} == {"PLUGIN_CRASHED", "PLUGIN_TIMEOUT"}


def test_every_code_names_one_class_or_its_parent() -> None:
    for cls in errors.error_classes():
        named = errors.error_class(cls.code)
        assert named is not None and issubclass(cls, named), cls
