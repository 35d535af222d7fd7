"""The public surface of the package."""

from __future__ import annotations

import timerkernel

EXPECTED_EXPORTS = {
    # model
    "UNSET",
    "Attempt",
    "AttemptOutcome",
    "Callback",
    "Delivered",
    "DeliveryFailed",
    "DeliveryResult",
    "DueTimer",
    "ErrorKind",
    "LastError",
    "Lease",
    "NamespaceCounts",
    "Outcome",
    "Rescheduled",
    "RetryPolicy",
    "Timer",
    "TimerPatch",
    "TimerQuery",
    "TimerSpec",
    "TimerStatus",
    "from_millis",
    "to_millis",
    # errors
    "FieldError",
    "InvalidArgument",
    "PayloadTooLarge",
    "StorageError",
    "StorageUnavailable",
    "TimerAlreadyExists",
    "TimerKernelError",
    "TimerNotFound",
    "VersionConflict",
    # kernel and runner
    "CreateResult",
    "Kernel",
    "KernelSettings",
    "Listener",
    "TimerEvent",
    "TimerEventKind",
    "TimerPage",
    "Runner",
    "RunnerSettings",
    "next_state",
    "retry_delay",
    # clocks, stores, dispatchers
    "ManualClock",
    "SystemClock",
    "MemoryStore",
    "FunctionDispatcher",
    # parsing and wire format
    "NAMESPACE_PATTERN",
    "TIMER_ID_PATTERN",
    "UrlGuard",
    "parse_callback_answer",
    "parse_timer_patch",
    "parse_timer_spec",
    "format_time",
    "parse_time",
    "attempt_to_dict",
    "encode_json",
    "timer_to_dict",
    "shard_of",
    "__version__",
}


def test_exported_names_are_exactly_the_public_api() -> None:
    assert set(timerkernel.__all__) == EXPECTED_EXPORTS
    assert len(timerkernel.__all__) == len(set(timerkernel.__all__))


def test_every_exported_name_can_be_imported() -> None:
    missing = [name for name in timerkernel.__all__ if not hasattr(timerkernel, name)]

    assert missing == []


def test_only_the_version_is_exported_with_an_underscore() -> None:
    private = [name for name in timerkernel.__all__ if name.startswith("_")]

    assert private == ["__version__"]
    assert isinstance(timerkernel.__version__, str)


def test_star_import_gives_every_exported_name() -> None:
    namespace: dict[str, object] = {}

    exec("from timerkernel import *", namespace)

    assert namespace.keys() >= EXPECTED_EXPORTS


def test_interfaces_are_public_in_abc() -> None:
    from timerkernel import abc

    assert {abc.Clock.__name__, abc.Dispatcher.__name__, abc.Store.__name__} == {
        "Clock",
        "Dispatcher",
        "Store",
    }
