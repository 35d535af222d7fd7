"""timerkernel: durable one-shot timers that call back over HTTP.

The kernel composes a :class:`~timerkernel.abc.Store`, a
:class:`~timerkernel.abc.Clock` and a :class:`~timerkernel.abc.Dispatcher`:
:class:`Kernel` creates, reads, changes and deletes timers, and a
:class:`Runner` fires them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._clocks import ManualClock, SystemClock
from ._codec import attempt_to_dict, timer_to_dict
from ._dispatchers import FunctionDispatcher
from ._exceptions import (
    FieldError,
    InvalidArgument,
    PayloadTooLarge,
    StorageError,
    StorageUnavailable,
    TimerAlreadyExists,
    TimerKernelError,
    TimerNotFound,
    VersionConflict,
)
from ._kernel import (
    CreateResult,
    Kernel,
    KernelSettings,
    Listener,
    TimerEvent,
    TimerEventKind,
    TimerPage,
)
from ._memory import MemoryStore
from ._model import (
    UNSET,
    Attempt,
    AttemptOutcome,
    Callback,
    Delivered,
    DeliveryFailed,
    DeliveryResult,
    DueTimer,
    ErrorKind,
    LastError,
    Lease,
    NamespaceCounts,
    Outcome,
    Rescheduled,
    RetryPolicy,
    Timer,
    TimerPatch,
    TimerQuery,
    TimerSpec,
    TimerStatus,
    from_millis,
    to_millis,
)
from ._parsing import (
    NAMESPACE_PATTERN,
    TIMER_ID_PATTERN,
    UrlGuard,
    encode_json,
    parse_callback_answer,
    parse_timer_patch,
    parse_timer_spec,
)
from ._runner import Runner, RunnerSettings, next_state, retry_delay
from ._sharding import shard_of
from ._times import format_time, parse_time

try:
    __version__ = version("timerkernel")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "NAMESPACE_PATTERN",
    "TIMER_ID_PATTERN",
    "UNSET",
    "Attempt",
    "AttemptOutcome",
    "Callback",
    "CreateResult",
    "Delivered",
    "DeliveryFailed",
    "DeliveryResult",
    "DueTimer",
    "ErrorKind",
    "FieldError",
    "FunctionDispatcher",
    "InvalidArgument",
    "Kernel",
    "KernelSettings",
    "LastError",
    "Lease",
    "Listener",
    "ManualClock",
    "MemoryStore",
    "NamespaceCounts",
    "Outcome",
    "PayloadTooLarge",
    "Rescheduled",
    "RetryPolicy",
    "Runner",
    "RunnerSettings",
    "StorageError",
    "StorageUnavailable",
    "SystemClock",
    "Timer",
    "TimerAlreadyExists",
    "TimerEvent",
    "TimerEventKind",
    "TimerKernelError",
    "TimerNotFound",
    "TimerPage",
    "TimerPatch",
    "TimerQuery",
    "TimerSpec",
    "TimerStatus",
    "UrlGuard",
    "VersionConflict",
    "__version__",
    "attempt_to_dict",
    "encode_json",
    "format_time",
    "from_millis",
    "next_state",
    "parse_callback_answer",
    "parse_time",
    "parse_timer_patch",
    "parse_timer_spec",
    "retry_delay",
    "shard_of",
    "timer_to_dict",
    "to_millis",
]
