"""One watch per event loop, shared by every loop watchdog started on it.

A blocked loop is one fact about the loop, not about a worker: an application that runs several
``Worker``s on one loop (one per group of queues) must hear of a stretch once, not once per
worker. So each ``LoopWatchdog`` (``bus.worker.watchdog``) is a member of its loop's
``LoopWatch``: the first to ``start()`` on a loop starts the watch's tick and thread, the others
join it (their handlers, ``Stats`` and observers added), ``stop()`` removes a member, and the last
to leave stops the tick and the thread. One blocked stretch is one ``event loop blocked`` warning
and one ``event loop unblocked`` line for the loop, combining the members that watch it then:

- the threshold is the smallest ``blocked_after`` among them (a watchdog that is off never
  joins): the member that asks to hear of a 0.2 s block hears of it whoever blocks, and a larger
  threshold cannot hide it. The stretch is the loop's, so a member with a larger threshold hears
  of it too (it counts in its ``warnings``, its observers are told). The tick and the thread
  follow the threshold (a quarter of it, 0.25 s at most) from the next tick on;
- ``handler`` is looked up among every member's handlers (the first member's path for a code
  object bound by several);
- ``in_flight`` counts each distinct ``Stats`` once (workers given one ``WorkerParts(stats=...)``
  share it) and sums a queue name found in several: the messages of that queue in flight on this
  loop, all of them waiting for it;
- the warning goes to the logger of the member whose handler is on the stack (a worker given its
  own ``WorkerParts(log=...)``, bound to its name, is the one named), else to the first member
  still watching; the stretch's ``unblocked`` line and its observers' failures go to that logger
  too;
- each distinct observer object hears of the stretch once: workers sharing one ``Metrics`` record
  it once; ``Metrics`` on two meter providers each record it (each provider's histogram counts the
  loop's stretches); two ``Metrics`` on one provider would record it twice (give the workers one).

A member joins and leaves on the loop's thread, so the loop runs then: a stretch warned about
ends there (a leaving member's observers hear of it, a joining member's do not).

The watches are found by loop in a ``weakref.WeakKeyDictionary`` (under a lock: loops running in
several threads each have their own watch, started and stopped on their own thread). A watch holds
its loop weakly and keeps no handle of its tick (a handle holds its loop), so nothing here keeps a
closed loop alive; a watch whose loop is gone without a ``stop()`` ends its thread.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from types import CodeType
from typing import TYPE_CHECKING, Any

import structlog

from bus.worker.frames import blocked_fields
from bus.worker.message import HANDLING

if TYPE_CHECKING:
    from bus.worker.watchdog import LoopWatchdog

TICK = 0.25
"""Longest time between two ticks of the loop (shorter when ``blocked_after / 4`` is): each wakes
an idle loop, about 0.2 ms of CPU on a small VM."""
WAKE = 0.25
"""Longest time between two looks of the thread (shorter when ``blocked_after / 4`` is)."""
SHORTEST = 0.01
JOIN = 1.0
"""Seconds the last ``stop()`` waits for the thread."""
HINT = (
    "nothing else in this process runs until it returns: use async libraries, or "
    "asyncio.to_thread for blocking calls"
)
"""The ``hint`` of each ``event loop blocked`` warning."""


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatch]
_WATCHES = weakref.WeakKeyDictionary()
"""The watch of each loop some ``LoopWatchdog`` watches (a loop that is collected leaves)."""
_WATCHES_LOCK = threading.Lock()
"""Loops in several threads start and stop their watches at once."""


class LoopWatch:
    """One event loop's watch: its tick, its thread, and the ``LoopWatchdog``s it reports to (see
    the module's docstring for how it combines them)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        """Weak: a loop closed without ``stop()`` is not kept alive (the thread then ends)."""
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        self._members: tuple[LoopWatchdog, ...] = ()
        self.blocked_after = 0.0
        """The smallest of the members' ``blocked_after``."""
        self._tick_every = self._wake_every = TICK
        self._due = 0.0
        """When the next tick is due (``time.monotonic``): how late it is, is how long the loop
        has been blocked."""
        self._warned = -1.0
        """The ``_due`` of the stretch last warned about."""
        self._warned_log: structlog.typing.FilteringBoundLogger | None = None
        """Whom that warning went to: the stretch's ``unblocked`` line goes there too."""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def join(cls, member: LoopWatchdog) -> LoopWatch:
        """``member`` joins the running loop's watch, started if it is the first."""
        loop = asyncio.get_running_loop()
        with _WATCHES_LOCK:
            watch = _WATCHES.get(loop)
            if watch is None:
                watch = _WATCHES[loop] = cls(loop)
        watch._runs()  # a stretch before it joined is not its to hear of
        with watch._lock:
            watch._members = (*watch._members, member)
            watch._configure()
        if watch._thread is None:
            watch._start(loop)
        return watch

    def leave(self, member: LoopWatchdog) -> None:
        """``member`` leaves (on the loop's thread, as ``join``); the last one stops the watch:
        its thread now, its tick at its next call (which schedules no other)."""
        self._runs()  # the leaving member's observers hear of a stretch it watched
        with self._lock:
            self._members = tuple(m for m in self._members if m is not member)
            if self._members:
                self._configure()
                return
            self._stopping.set()
        loop = self._loop()
        with _WATCHES_LOCK:
            if loop is not None and _WATCHES.get(loop) is self:
                del _WATCHES[loop]
        if self._thread is not None:
            self._thread.join(JOIN)
            self._thread = None

    def _configure(self) -> None:
        """The threshold and intervals of the members' (under ``_lock``); the tick scheduled
        keeps its time, the next ones follow them."""
        self.blocked_after = min(m.blocked_after for m in self._members)
        quarter = self.blocked_after / 4
        self._tick_every = max(SHORTEST, min(TICK, quarter))
        self._wake_every = max(SHORTEST, min(WAKE, quarter))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = time.monotonic() + self._tick_every
        loop.call_later(self._tick_every, self._tick)
        self._thread = threading.Thread(target=self._watch, name="bus loop watchdog", daemon=True)
        self._thread.start()

    # -- on the loop ------------------------------------------------------------------------------

    def _tick(self) -> None:
        now, every = time.monotonic(), self._tick_every
        self._ran(now, now + every)
        loop = self._loop()
        if loop is not None and not self._stopping.is_set():
            loop.call_later(every, self._tick)

    def _runs(self) -> None:
        """The loop runs, between two ticks (a member joins or leaves): a stretch warned about
        ends now; the tick scheduled is still due (at once if it is late)."""
        now = time.monotonic()
        self._ran(now, max(self._due, now))

    def _ran(self, now: float, due: float) -> None:
        """The loop ran at ``now``, its next tick due at ``due``: the end of a stretch warned
        about is logged, and told to each distinct observer object once."""
        with self._lock:
            last, self._due = self._due, due
            log, members = self._warned_log, self._members
            if self._warned != last or log is None:
                return
        late = max(0.0, now - last)
        log.warning("event loop unblocked", blocked_seconds=round(late, 3))
        observers = {id(o): o for m in members for o in m.observers}
        for observer in observers.values():
            try:
                observer.loop_blocked(late)
            except Exception:  # an observer's failure must not stop the tick
                log.exception("a loop observer failed", observer=repr(observer))

    # -- on the watch's thread --------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(self._wake_every):
            loop = self._loop()
            if loop is None:  # collected: nobody stopped the watch, nothing is left to watch
                return
            try:
                self._look(loop)
            except Exception:  # never let a formatting surprise end the watch
                members = self._members
                if members:
                    members[0].log.exception("loop watchdog failed to describe a blocked loop")
            del loop

    def _look(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_running():  # a read; between runs nothing is blocked
            return
        with self._lock:  # held while warning: the tick's "unblocked" line comes after it
            due, members = self._due, self._members
            blocked = time.monotonic() - due  # how late the next tick is
            if not members or blocked <= self.blocked_after or self._warned == due:
                return
            self._warned = due
            for member in members:
                member.warnings += 1
            fields = self._describe(loop, members)
            log = next(
                (m.log for m in members if fields.get("handler") in m.handlers.values()),
                members[0].log,
            )
            self._warned_log = log
            log.warning(
                "event loop blocked", blocked_seconds=round(blocked, 3), **fields, hint=HINT
            )

    def _describe(
        self, loop: asyncio.AbstractEventLoop, members: Sequence[LoopWatchdog]
    ) -> dict[str, Any]:
        """The warning's fields, from every member's handlers and ``Stats``."""
        handlers: dict[CodeType, str] = {}
        for member in members:
            for code, path in member.handlers.items():
                handlers.setdefault(code, path)
        frame = sys._current_frames().get(self._loop_thread)
        fields = {} if frame is None else blocked_fields(frame, handlers)
        del frame
        message_id = _handled(loop)
        if message_id is not None:
            fields["message_id"] = message_id
        stats = {id(m.stats): m.stats for m in members if m.stats is not None}
        if stats:
            in_flight: dict[str, int] = {}
            for one in stats.values():
                for name, queue in list(one.queues.items()):
                    if queue.in_flight:
                        in_flight[name] = in_flight.get(name, 0) + queue.in_flight
            fields["in_flight"] = in_flight
        return fields


def _handled(loop: asyncio.AbstractEventLoop) -> str | None:
    """The id of the message whose task ``loop`` is running (from another thread: a read of the
    loop's current task and its name), or None when that task handles no message."""
    task = asyncio.current_task(loop)
    name = task.get_name() if task is not None else ""
    return name[len(HANDLING) :] if name.startswith(HANDLING) else None
