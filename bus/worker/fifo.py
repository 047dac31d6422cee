"""FIFO queues: each message group handled one message at a time, in order; groups in parallel.

Every message group with messages in this process has one *lane*: a task that handles them one
after the other, lowest ``SequenceNumber`` first. SQS never hands out a group's later messages
while an earlier one is in flight; an emulator may (LocalStack makes a group receivable again as
soon as one of its earlier messages becomes visible, while later ones are still in flight here).
Order holds whichever the queue does, because:

1. A group has at most one lane per queue. Messages of a group that arrive while its lane exists,
   from any poller and any receive, join that lane (sorted by sequence number) instead of starting
   a second task: two messages of a group never run at once here.
2. A handled or dead-lettered message is finished (deleted, or in the DLQ before it is deleted);
   the lane goes on with the next. A message to be redelivered is redelivered by the dispatcher
   in-process: it waits out its backoff and is tried again while the lane still holds the rest of
   its group, so the group stays in flight (the heartbeat keeps it invisible) and the receive
   counts of the messages behind it do not rise. Only on shutdown does a lane give messages back
   to the queue: those it has not started at once, in order (``stop()``: SQS keeps the group
   blocked while the one being handled is in flight); the one being handled when it finishes,
   unless it is deleted (``Fate.HELD``, ``Fate.RELEASED``). And when a backoff would outlast
   SQS's 12 hours from the head's receive (``Fate.RETURNED``): the head and what waits behind it
   go back in order, as at a stop, before SQS would make the head visible on its own; the lane
   then waits for them as in 3.
3. After such a release the messages may come back to this process through receives already under
   way, answered in any order. The lane remembers what it gave back and starts no message while an
   earlier one it gave back is missing: until that one is back in the lane, or every receive under
   way when the release was done has been dispatched (``Receives``): a given-back message still
   missing then was taken by another consumer, and the queue hands out a group's messages in
   order, so none of the missing ones can still come here after a later one.
4. A lane ends only when it holds nothing and waits for nothing, with no pause between that check
   and its removal, so an arriving message either joins the running lane or starts a new one.

Of the queue's slots (its ``concurrency``), a lane holds one while it holds a message: its head,
being handled or waiting out its backoff; messages queued behind the head hold none, up to
``TAIL`` of them (beyond that each holds one). They do no work while they wait, and counting them
would let one held group keep every other group from being received: with ``concurrency: 2``, a
group's two messages received together, its head failing, no other group would start before the
head was finished. The tail is bounded all the same: SQS hands out no more messages of a group
while one is in flight, so a lane's tail is what one receive returned (at most ten); so a FIFO
queue holds at most ``10 * concurrency`` messages, each one tracked by the heartbeat. A head's
slot passes straight to the next message of its lane, and a lane gives back what it holds when it
ends, however it ends (``Lanes.fit``).

Nothing is lost or handled twice by this: each received message is in exactly one place, a lane's
list, the lane's handler, back on the queue, or deleted. A message delivered again while an older
copy of it waits in the lane replaces that copy (whose receipt handle is stale); one delivered
again while it is being handled is not handled again: its new receipt handle is the one its delete
(or release) uses (``latest``), and the copy is dropped. When the handling itself fails
unexpectedly (a bug in bus), the lane stops tracking what it holds: those messages come back after
their visibility timeout, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

import structlog

from bus.worker.capacity import Capacity
from bus.worker.fields import delivery_fields
from bus.worker.message import Received
from bus.worker.poller import Receives
from bus.worker.settle import Fate
from bus.worker.sqs import BATCH

TAIL = BATCH - 1
"""Messages a lane holds behind its head without counting them against the queue's slots: the
rest of one receive (SQS hands out no more of a group while one of its messages is in flight)."""


def split_groups(messages: Sequence[Received]) -> list[list[Received]]:
    """The messages by ``MessageGroupId``, each group in receive order (SQS's order)."""
    groups: dict[str | None, list[Received]] = {}
    for msg in messages:
        groups.setdefault(msg.group_id, []).append(msg)
    return list(groups.values())


def _order(msg: Received) -> int:
    number = msg.sequence_number
    return -1 if number is None else number


class GroupLane:
    """The messages of one group held by this process, and what it gave back to the queue."""

    def __init__(self, group: str | None) -> None:
        self.group = group
        self.pending: list[Received] = []
        """Received, not started; by sequence number (arrival order where there is none)."""
        self.outstanding: dict[str, int | None] = {}
        """Given back to the queue and not received again: message id -> sequence number."""
        self.fence: int | None = None
        """``Receives.mark()`` after the last give-back."""
        self.current: Received | None = None
        """The message being handled."""
        self.renewed: Received | None = None
        """The newest copy of ``current``, when the queue delivered it again while it ran."""
        self.changed = asyncio.Event()
        self.slots = 0
        """The queue's slots the lane holds: what its messages brought, less what it gave back."""

    @property
    def counts_for(self) -> int:
        """The queue's slots the lane needs: one while it holds a message (its head, handled or
        waiting out its backoff), plus one for each beyond ``TAIL`` waiting behind it."""
        held = len(self.pending) + (self.current is not None)
        return held - min(held - 1, TAIL) if held else 0

    def add(self, messages: Sequence[Received]) -> list[Received]:
        """Take ``messages`` in; return the older copies they replace (stale receipt handles)."""
        stale: list[Received] = []
        for msg in messages:
            self.outstanding.pop(msg.message_id, None)
            current = self.current
            if current is not None and msg.message_id == current.message_id:
                stale.append(self.renewed or current)
                self.renewed = msg
                continue
            for index, held in enumerate(self.pending):
                if held.message_id == msg.message_id:
                    stale.append(self.pending.pop(index))
                    break
            self.pending.append(msg)
        self.pending.sort(key=_order)
        self.changed.set()
        return stale

    def next(self) -> Received | None:
        """The message to handle now, or None: nothing held, or an earlier one is still missing."""
        if not self.pending:
            return None
        head = self.pending[0].sequence_number
        for number in self.outstanding.values():
            if number is None or head is None or number < head:
                return None
        return self.pending.pop(0)

    def take_all(self) -> list[Received]:
        taken, self.pending = self.pending, []
        return taken

    def finished(self) -> Received | None:
        """The message that was being handled, its newest copy; no longer current."""
        msg = self.renewed or self.current
        self.current = self.renewed = None
        return msg

    @property
    def idle(self) -> bool:
        return not self.pending and not self.outstanding


class LaneWork(Protocol):
    """What the lanes do with messages: the queue's consumer."""

    async def process(self, msg: Received) -> Fate:
        """Handle ``msg`` and settle it."""
        ...

    async def release(self, messages: Sequence[Received]) -> set[str]:
        """Give ``messages`` back at once, in order; the receipts that could not be."""
        ...

    def done(self, count: int) -> None:
        """``count`` messages are finished (handled, dead-lettered, given back or dropped)."""
        ...

    def untrack(self, receipt: str) -> None:
        """The heartbeat lets go of ``receipt`` (a stale copy)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task the consumer waits for at shutdown."""
        ...


class Lanes:
    """The lanes of one FIFO queue: ``dispatch`` hands each received group to its lane, with the
    queue's slots its messages hold (``capacity``); the lanes give back what they do not need."""

    def __init__(
        self,
        work: LaneWork,
        capacity: Capacity,
        receives: Receives,
        stopping: asyncio.Event,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._work = work
        self._capacity = capacity
        self._receives = receives
        self._stopping = stopping
        self._log = log
        self._lanes: dict[str | None, GroupLane] = {}

    def __len__(self) -> int:
        return len(self._lanes)

    def latest(self, msg: Received) -> Received:
        """The newest copy of ``msg``: another one when it was delivered again while it ran."""
        lane = self._lanes.get(msg.group_id)
        renewed = lane.renewed if lane is not None else None
        return renewed if renewed is not None and renewed.message_id == msg.message_id else msg

    def stop(self) -> None:
        """Shutdown: give back what the lanes hold but have not started, at once and in order;
        the messages being handled finish (their groups stay blocked on SQS until then)."""
        for lane in self._lanes.values():
            if lane.pending:
                self._work.spawn(self._give_back(lane, lane.take_all()))

    def fit(self, lane: GroupLane) -> None:
        """Give back the queue's slots ``lane`` holds beyond those it needs."""
        extra = lane.slots - lane.counts_for
        if extra > 0:
            lane.slots -= extra
            self._capacity.release(extra)

    def dispatch(self, messages: Sequence[Received]) -> None:
        """Give each group of ``messages`` (each holding one of the queue's slots) to its lane,
        starting lanes for new groups."""
        for group in split_groups(messages):
            key = group[0].group_id
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = GroupLane(key)
                lane.add(group)
                lane.slots += len(group)
                self.fit(lane)
                self._work.spawn(self._run(lane))
                continue
            stale = lane.add(group)
            lane.slots += len(group)
            for msg in stale:
                self._work.untrack(msg.receipt_handle)
                if lane.renewed is not None and msg.message_id == lane.renewed.message_id:
                    self._log.info(
                        "received again while being handled; not handled twice",
                        **delivery_fields(lane.renewed),
                    )
            self._work.done(len(stale))
            self.fit(lane)

    async def _run(self, lane: GroupLane) -> None:
        try:
            await self._drain(lane)
        except asyncio.CancelledError:
            if lane.finished() is not None:  # released by the dispatcher, or back after a timeout
                self._work.done(1)
            while lane.pending:  # shutdown past its deadline: what was not started goes back
                await self._give_back(lane, lane.take_all())
            raise
        except Exception:
            held = lane.take_all()
            current = lane.finished()
            if current is not None:
                held.insert(0, current)
            for msg in held:
                self._work.untrack(msg.receipt_handle)
            self._work.done(len(held))
            for msg in held:
                self._log.exception(
                    "unexpected error; the message comes back after its visibility timeout",
                    **delivery_fields(msg),
                )
        finally:
            self._capacity.release(lane.slots)
            lane.slots = 0
            if self._lanes.get(lane.group) is lane:
                del self._lanes[lane.group]

    async def _drain(self, lane: GroupLane) -> None:
        """Handle the lane's messages in order until it holds nothing and waits for nothing."""
        while True:
            if self._stopping.is_set():  # what was not started goes back at once, in one call
                if not lane.pending:
                    return
                await self._give_back(lane, lane.take_all())
                continue
            msg = lane.next()
            if msg is None:
                if lane.idle:
                    return
                await self._wait(lane)
                continue
            lane.current = msg
            outcome = await self._work.process(msg)
            msg = lane.finished() or msg
            in_flight = outcome is Fate.HELD or outcome is Fate.RETURNED
            if not in_flight:
                self._work.done(1)
            if outcome is Fate.HANDLED or outcome is Fate.FAILED:
                self.fit(lane)  # its slot goes to the next message, if there is one
                continue
            back = lane.take_all()
            if in_flight:  # a stop, or SQS's 12 hours: the group goes back, head first
                back = sorted([msg, *back], key=_order)
            await self._give_back(lane, back)

    async def _give_back(self, lane: GroupLane, messages: Sequence[Received]) -> None:
        """Make ``messages`` visible again, in order, and remember them until they are back."""
        if not messages:
            return
        for msg in messages:
            lane.outstanding[msg.message_id] = msg.sequence_number
        try:
            kept = await self._work.release(messages)
        finally:
            self._work.done(len(messages))
            self.fit(lane)
        for msg in messages:
            if msg.receipt_handle in kept:  # not released: back only after its visibility timeout
                lane.outstanding.pop(msg.message_id, None)
        lane.fence = self._receives.mark()

    async def _wait(self, lane: GroupLane) -> None:
        """Wait for an arrival, a stop, or the receives under way at the last give-back."""
        fence = lane.fence
        if fence is None or not self._receives.under_way(fence):
            lane.outstanding.clear()  # what is still missing went to another consumer
            return
        lane.changed.clear()
        passed = asyncio.ensure_future(self._receives.passed(fence))
        others = (
            asyncio.ensure_future(lane.changed.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        )
        try:
            await asyncio.wait((passed, *others), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (passed, *others):
                task.cancel()
        if passed.done() and not passed.cancelled():
            lane.outstanding.clear()
