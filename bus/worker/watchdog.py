"""Loop watchdog: name the code that blocks the worker's event loop, while it blocks.

A handler that blocks the loop (``time.sleep``, synchronous ``requests`` or boto3, a CPU-heavy
loop) stalls the whole process: pollers stop receiving, the visibility heartbeat stops extending
what is in flight (SQS then delivers it again: duplicates), shutdown and ``/healthz`` stop
answering. The watch has two parts (``bus.worker.loopwatch``):

- on the loop, a tick (``loop.call_later``, every ``TICK`` seconds of loop time at most) notes
  ``time.monotonic()``. Real time: a virtual clock (``bus.memory.virtual_time``) that leaps makes
  ticks come sooner in real time, never later, so it raises no false alarm;
- a daemon thread wakes a few times per ``blocked_after`` (``threading.Event.wait``: the last
  ``stop()`` ends it at once). When the next tick is late by more than ``blocked_after`` (the loop
  has been blocked at least that long: a shorter block never counts) it logs one warning for that
  stretch, ``event loop blocked``, with where the loop thread is
  (``sys._current_frames()``, described by ``bus.worker.frames``): the innermost frame of the
  application's code (outside the standard library, site-packages and bus) and the innermost
  frame of all, their source lines, a few frames of the stack, the handler whose code is on it,
  the message it handles (the loop's current task is named after it:
  ``bus.worker.message.handling``), the messages in flight. The late tick logs ``event loop
  unblocked`` with how late it came (the block's length, to within a tick).

A ``LoopWatchdog`` is one worker's part in its loop's watch (its threshold, logger, handlers,
``Stats``, observers): every watchdog started on one loop shares that loop's one tick and thread,
and a blocked stretch is reported once for the loop, however many workers run on it
(``bus.worker.loopwatch`` says how their parts combine).

The thread only reads (the tick's time, the loop thread's frames, the name of the loop's current
task, counters, whether the loop is running); it never calls into the loop or its objects. It is
a daemon and the last ``stop()`` joins it with a timeout: it never keeps the process alive. Code
that holds the GIL without a break (a long C call) delays the thread too: its warning then comes
when that call returns.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import CodeType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import structlog

from bus.worker.frames import is_application as is_application  # re-exported: its old home
from bus.worker.loopwatch import LoopWatch

if TYPE_CHECKING:
    from bus.worker.loader import QueueBinding
    from bus.worker.stats import Stats


def code_of(func: Callable[..., object]) -> CodeType | None:
    """The code object that runs when ``func`` is called (through ``functools.wraps`` layers,
    bound methods and callable instances), if it has one."""
    with contextlib.suppress(ValueError):  # a cycle of __wrapped__
        func = inspect.unwrap(func)
    target = getattr(func, "__func__", func)
    code = getattr(target, "__code__", None)
    if code is None:
        owner = type(target).__mro__
        call = next((k.__dict__["__call__"] for k in owner if "__call__" in k.__dict__), None)
        code = getattr(call, "__code__", None)
    return code if isinstance(code, CodeType) else None


def handler_codes(bindings: Iterable[QueueBinding]) -> dict[CodeType, str]:
    """Each handler's code object -> its import path (``module:function``)."""
    out: dict[CodeType, str] = {}
    for binding in bindings:
        for handler in binding.handlers.values():
            code = code_of(handler.func)
            if code is not None:
                out.setdefault(code, handler.path)
    return out


@runtime_checkable
class LoopObserver(Protocol):
    """Told of each blocked stretch when it ends, on the loop (a consume middleware that has this
    method is told by the worker: ``bus.otel.metrics.Metrics`` records it)."""

    def loop_blocked(self, seconds: float) -> None:
        """The loop ran again after a stretch of ``seconds`` (to within a tick) blocked."""


class LoopWatchdog:
    """Warns, with the blocking code's file and line, while the event loop is blocked: one
    member of that loop's ``LoopWatch``, which it joins in ``start()`` and leaves in ``stop()``."""

    def __init__(
        self,
        blocked_after: float | None,
        log: structlog.typing.FilteringBoundLogger,
        *,
        handlers: Mapping[CodeType, str] | None = None,
        stats: Stats | None = None,
        observers: Sequence[LoopObserver] = (),
    ) -> None:
        if blocked_after is not None and blocked_after < 0:
            raise ValueError(f"blocked_after: seconds >= 0 (0 or None: off), not {blocked_after}")
        self.blocked_after = blocked_after or 0.0
        """Seconds a tick may be late before the loop counts as blocked; 0: off."""
        self.log = log
        self.handlers: Mapping[CodeType, str] = dict(handlers or {})
        self.stats = stats
        self.observers = tuple(observers)
        self.warnings = 0
        """Blocked stretches of its loop warned about while it watched."""
        self._watch: LoopWatch | None = None

    @property
    def enabled(self) -> bool:
        return self.blocked_after > 0

    @property
    def running(self) -> bool:
        return self._watch is not None

    def start(self) -> None:
        """Watch the running loop (call it on the loop's thread): join its watch, or start it;
        nothing when off."""
        if self.enabled and self._watch is None:
            self._watch = LoopWatch.join(self)

    def stop(self) -> None:
        """Leave the loop's watch (on the loop's thread); the last to leave stops the tick and the
        thread. A stretch warned about is reported unblocked, since the loop runs again."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.leave(self)
