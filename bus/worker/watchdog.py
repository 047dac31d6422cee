"""Loop watchdog: name the code that blocks the worker's event loop, while it blocks.

A handler that blocks the loop (``time.sleep``, synchronous ``requests`` or boto3, a CPU-heavy
loop) stalls the whole process: pollers stop receiving, the visibility heartbeat stops extending
what is in flight (SQS then delivers it again: duplicates), shutdown and ``/healthz`` stop
answering. The watchdog has two parts:

- on the loop, a tick (``loop.call_later``, every ``TICK`` seconds of loop time at most) notes
  ``time.monotonic()``. Real time: a virtual clock (``bus.memory.virtual_time``) that leaps makes
  ticks come sooner in real time, never later, so it raises no false alarm;
- a daemon thread wakes a few times per ``blocked_after`` (``threading.Event.wait``: ``stop()``
  ends it at once). When the next tick is late by more than ``blocked_after`` (the loop has been
  blocked at least that long: a shorter block never counts) it logs one warning for that
  stretch, ``event loop blocked``, with where the loop thread is
  (``sys._current_frames()``): the innermost frame of the application's code (outside the
  standard library, site-packages and bus) and the innermost frame of all, their source lines, a
  few frames of the stack, the handler whose code is on it, the message it handles (the loop's
  current task is named after it: ``bus.worker.message.handling``), the messages in flight. The
  late tick logs ``event loop unblocked`` with how late it came (the block's length, to within a
  tick).

The thread only reads (the tick's time, the loop thread's frames, the name of the loop's current
task, counters, whether the loop is running); it never calls into the loop or its objects. It is
a daemon and ``stop()`` joins it with a timeout: it never keeps the process alive. Code that
holds the GIL without a break (a long C call) delays the thread too: its warning then comes when
that call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import linecache
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import structlog

from bus.worker.message import HANDLING

if TYPE_CHECKING:
    from bus.worker.loader import QueueBinding
    from bus.worker.stats import Stats

TICK = 0.25
"""Longest time between two ticks of the loop (shorter when ``blocked_after / 4`` is): each wakes
an idle loop, about 0.2 ms of CPU on a small VM."""
WAKE = 0.25
"""Longest time between two looks of the thread (shorter when ``blocked_after / 4`` is)."""
SHORTEST = 0.01
FRAMES = 6
"""Frames of the blocked stack logged (``frames``), innermost first (not ``stack``: structlog
renders a key of that name itself)."""
DEEPEST = 200
"""Frames looked at, from the innermost out."""
JOIN = 1.0
"""Seconds ``stop()`` waits for the thread."""
HINT = (
    "nothing else in this process runs until it returns: use async libraries, or "
    "asyncio.to_thread for blocking calls"
)
"""The ``hint`` of each ``event loop blocked`` warning."""


@dataclass(frozen=True)
class Site:
    """One frame of the blocked loop thread."""

    file: str
    line: int
    function: str

    @classmethod
    def of(cls, frame: FrameType) -> Site:
        return cls(frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name)

    def __str__(self) -> str:
        return f"{_short(self.file)}:{self.line} in {self.function}"

    @property
    def source(self) -> str:
        return linecache.getline(self.file, self.line).strip()


def _short(file: str) -> str:
    """``file`` relative to the current directory when it is under it."""
    try:
        return str(Path(file).relative_to(Path.cwd()))
    except ValueError:
        return file


def _library_roots() -> tuple[str, ...]:
    """Where code that is not the application's lives: the standard library, site-packages, bus."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(str(Path(__file__).resolve().parents[1]))
    return tuple(str(Path(root)) + "/" for root in sorted(roots))


LIBRARY = _library_roots()
LOOP_RUN = asyncio.events.Handle._run.__code__
"""Where the loop runs a callback: the frames outside it are the loop's own, not worth naming."""


def is_application(file: str) -> bool:
    """Whether ``file`` is the application's code: not the standard library, site-packages or
    bus, nor generated (``<string>``, ``<frozen ...>``)."""
    return not file.startswith("<") and not file.startswith(LIBRARY)


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


def blocked_fields(frame: FrameType, handlers: Mapping[CodeType, str]) -> dict[str, Any]:
    """The log fields saying where a blocked loop thread is, from its innermost ``frame`` out to
    the callback the loop runs:
    ``where`` and ``line`` (the innermost frame of the application's code, else of a handler,
    else the innermost), ``innermost`` and ``innermost_line`` (when another frame),
    ``frames`` (the innermost ``FRAMES``) and ``handler`` (a handler on the stack)."""
    frames: list[FrameType] = []
    current: FrameType | None = frame
    while current is not None and len(frames) < DEEPEST and current.f_code is not LOOP_RUN:
        frames.append(current)
        current = current.f_back
    if not frames:  # the loop's own machinery, between two callbacks
        frames.append(frame)
    handler = next((handlers[f.f_code] for f in frames if f.f_code in handlers), None)
    chosen = next((f for f in frames if is_application(f.f_code.co_filename)), None)
    if chosen is None:
        chosen = next((f for f in frames if f.f_code in handlers), frames[0])
    where, innermost = Site.of(chosen), Site.of(frames[0])
    fields: dict[str, Any] = {"where": str(where), "line": where.source}
    if innermost != where:
        fields.update(innermost=str(innermost), innermost_line=innermost.source)
    fields["frames"] = [str(Site.of(f)) for f in frames[:FRAMES]]
    if handler is not None:
        fields["handler"] = handler
    return fields


@runtime_checkable
class LoopObserver(Protocol):
    """Told of each blocked stretch when it ends, on the loop (a consume middleware that has this
    method is told by the worker: ``bus.otel.metrics.Metrics`` records it)."""

    def loop_blocked(self, seconds: float) -> None:
        """The loop ran again after a stretch of ``seconds`` (to within a tick) blocked."""


class LoopWatchdog:
    """Warns, with the blocking code's file and line, while the event loop is blocked."""

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
        self._log = log
        self._handlers = dict(handlers or {})
        self._stats = stats
        self._observers = tuple(observers)
        quarter = self.blocked_after / 4
        self._tick_every = max(SHORTEST, min(TICK, quarter))
        self._wake_every = max(SHORTEST, min(WAKE, quarter))
        self._lock = threading.Lock()
        self._ticked = 0.0
        """When the loop last ticked (``time.monotonic``); the next is due ``_tick_every`` later."""
        self._warned = -1.0
        """The ``_ticked`` of the stretch last warned about."""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._handle: asyncio.TimerHandle | None = None
        self.warnings = 0
        """Blocked stretches warned about so far."""

    @property
    def enabled(self) -> bool:
        return self.blocked_after > 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start watching the running loop (call it on the loop's thread); nothing when off."""
        if not self.enabled or self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping.clear()
        self._ticked = time.monotonic()
        self._handle = self._loop.call_later(self._tick_every, self._tick)
        self._thread = threading.Thread(target=self._watch, name="bus loop watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the tick and the thread (on the loop's thread); a stretch warned about is
        reported unblocked, since the loop runs again."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._note_tick()
        thread.join(JOIN)

    # -- on the loop ------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._note_tick()
        if self._loop is not None and not self._stopping.is_set():
            self._handle = self._loop.call_later(self._tick_every, self._tick)

    def _note_tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            last, self._ticked = self._ticked, now
            warned = self._warned == last
        if warned:
            late = max(0.0, now - last - self._tick_every)
            self._log.warning("event loop unblocked", blocked_seconds=round(late, 3))
            for observer in self._observers:
                try:
                    observer.loop_blocked(late)
                except Exception:  # an observer's failure must not stop the tick
                    self._log.exception("a loop observer failed", observer=repr(observer))

    # -- on the watchdog's thread -----------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(self._wake_every):
            try:
                self._look()
            except Exception:  # never let a formatting surprise end the watch
                self._log.exception("loop watchdog failed to describe a blocked loop")

    def _look(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():  # a read; between runs nothing is blocked
            return
        with self._lock:  # held while warning: the tick's "unblocked" line comes after it
            ticked = self._ticked
            blocked = time.monotonic() - ticked - self._tick_every  # how late the next tick is
            if blocked <= self.blocked_after or self._warned == ticked:
                return
            self._warned = ticked
            self.warnings += 1
            self._warn(blocked)

    def _warn(self, blocked: float) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        fields = {} if frame is None else blocked_fields(frame, self._handlers)
        del frame
        message_id = _handled(self._loop)
        if message_id is not None:
            fields["message_id"] = message_id
        if self._stats is not None:
            queues = list(self._stats.queues.items())
            fields["in_flight"] = {name: q.in_flight for name, q in queues if q.in_flight}
        self._log.warning(
            "event loop blocked", blocked_seconds=round(blocked, 3), **fields, hint=HINT
        )


def _handled(loop: asyncio.AbstractEventLoop | None) -> str | None:
    """The id of the message whose task ``loop`` is running (from another thread: a read of the
    loop's current task and its name), or None when that task handles no message."""
    task = asyncio.current_task(loop) if loop is not None else None
    name = task.get_name() if task is not None else ""
    return name[len(HANDLING) :] if name.startswith(HANDLING) else None
