"""FIFO queues: each message group in order, one at a time; groups in parallel; a failure holds
the rest of its group back instead of reordering it (redelivered in-process, the group in flight);
order holds even when the queue hands out a group's later messages while an earlier one is still
being handled here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
import pytest_asyncio
import structlog
from structlog.testing import capture_logs

from bus.aws import AwsClients
from bus.aws.failure import read_failure
from bus.memory import Call
from bus.memory.sqs import message_id_of
from bus.worker import Stats
from bus.worker.capacity import Capacity
from bus.worker.fifo import TAIL, GroupLane, Lanes, split_groups
from bus.worker.heartbeat import MAX_VISIBILITY, SLACK
from bus.worker.message import Received
from bus.worker.poller import Receives
from bus.worker.settle import Fate
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for
from tests.worker.rig import (
    JOURNAL,
    MemorySQS,
    Rig,
    consumer,
    events,
    index,
    open_gate,
    until,
)

TOPOLOGY = """
name: wfifo
queues:
  seq.fifo:
    fifo: true
    visibility_timeout: 5
    dead_letter: {max_receive_count: 6}
events:
  Seq:
    model: tests.worker.apps:Seq
    publish_to: [{queue: seq.fifo}]
    message_group_id: group
handlers:
  seq.fifo:
    concurrency: 10
    pollers: 3
    events: {Seq: "tests.worker.apps:apply_seq"}
    retry: {attempts: 1, redelivery: {initial: 0, maximum: 0}}
"""


def _received(group: str, n: int, receipt: str = "r") -> Received:
    return Received.from_sqs(
        {
            "MessageId": f"{group}{n}",
            "ReceiptHandle": f"{receipt}-{group}{n}",
            "Body": "",
            "Attributes": {"MessageGroupId": group, "SequenceNumber": str(1000 + n)},
        }
    )


def _ids(messages: Sequence[Received]) -> list[str]:
    return [m.message_id for m in messages]


# -- pure: grouping and lanes ---------------------------------------------------------------------


def test_split_groups_keeps_receive_order_within_each_group() -> None:
    batch = [_received(g, n) for n, g in enumerate("abacbba")]
    groups = split_groups(batch)
    assert [_ids(g) for g in groups] == [["a0", "a2", "a6"], ["b1", "b4", "b5"], ["c3"]]


def test_lane_hands_out_by_sequence_number_whatever_the_arrival_order() -> None:
    lane = GroupLane("a")
    lane.add([_received("a", 3)])
    lane.add([_received("a", 1), _received("a", 4)])
    lane.add([_received("a", 2)])
    assert _ids([lane.next(), lane.next()]) == ["a1", "a2"]  # type: ignore[list-item]
    assert _ids(lane.take_all()) == ["a3", "a4"]
    assert lane.next() is None
    assert lane.idle


def test_lane_waits_for_an_earlier_message_it_gave_back() -> None:
    lane = GroupLane("a")
    lane.outstanding = {"a1": 1001, "a2": 1002}  # given back to the queue
    lane.add([_received("a", 2, "new")])
    assert lane.next() is None  # a1 is missing: a2 must not overtake it
    lane.add([_received("a", 1, "new")])
    assert _ids([lane.next(), lane.next()]) == ["a1", "a2"]  # type: ignore[list-item]
    assert lane.idle


def test_a_copy_delivered_again_replaces_the_stale_one() -> None:
    lane = GroupLane("a")
    lane.add([_received("a", 1, "old"), _received("a", 2, "old")])
    stale = lane.add([_received("a", 1, "new")])
    assert [m.receipt_handle for m in stale] == ["old-a1"]
    assert [m.receipt_handle for m in lane.take_all()] == ["new-a1", "old-a2"]


def test_a_lane_counts_its_head_and_what_waits_beyond_the_tail() -> None:
    lane = GroupLane("a")
    assert lane.counts_for == 0
    lane.add([_received("a", n) for n in range(1, TAIL + 2)])  # a head and TAIL behind it
    assert lane.counts_for == 1
    lane.current = lane.next()  # being handled, or waiting out its backoff
    assert lane.counts_for == 1
    lane.add([_received("a", TAIL + 2), _received("a", TAIL + 3)])
    assert lane.counts_for == 3
    lane.finished()
    assert lane.counts_for == 2


class Harness:
    """Lanes over a fake handler and a fake release: what ran, in what order, what went back."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.running: set[str] = set()
        self.overlaps: list[str] = []
        self.outcomes: dict[str, list[Fate]] = {}
        self.released: list[list[str]] = []
        self.in_flight = 0
        self.capacity = Capacity(100)
        self.receives = Receives()
        self.tasks: set[asyncio.Task[None]] = set()
        self.lanes = Lanes(
            self, self.capacity, self.receives, asyncio.Event(), structlog.get_logger("test")
        )

    def dispatch(self, messages: Sequence[Received]) -> None:
        self.capacity.free -= len(messages)  # each holds a slot, as a poller's reserve took them
        self.in_flight += len(messages)
        self.lanes.dispatch(messages)

    def spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def done(self, count: int) -> None:
        self.in_flight -= count

    def untrack(self, receipt: str) -> None:
        pass

    async def process(self, msg: Received) -> Fate:
        group = str(msg.group_id)
        if group in self.running:
            self.overlaps.append(msg.message_id)
        self.running.add(group)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.running.discard(group)
        planned = self.outcomes.get(msg.message_id)
        outcome = planned.pop(0) if planned else Fate.HANDLED
        if outcome is Fate.HANDLED:
            self.ran.append(msg.message_id)
        return outcome

    async def release(self, messages: Sequence[Received]) -> set[str]:
        self.released.append(_ids(messages))
        return set()

    async def finished(self) -> None:
        await wait_for(lambda: not self.tasks, within=5, every=0.005)
        assert (self.in_flight, len(self.lanes), self.overlaps) == (0, 0, [])
        assert self.capacity.free == self.capacity.limit


async def test_messages_arriving_while_their_group_runs_join_its_lane() -> None:
    h = Harness()
    h.dispatch([_received("a", 1), _received("b", 1)])
    h.dispatch([_received("a", 3)])
    await asyncio.sleep(0)
    h.dispatch([_received("a", 2), _received("b", 2)])
    await h.finished()
    assert [m for m in h.ran if m[0] == "a"] == ["a1", "a2", "a3"]
    assert [m for m in h.ran if m[0] == "b"] == ["b1", "b2"]


async def test_messages_behind_the_head_of_their_group_give_their_queue_slots_back() -> None:
    h = Harness()
    h.dispatch([_received("a", n) for n in range(1, 13)] + [_received("b", 1)])
    assert h.capacity.in_use == (1 + 12 - 1 - TAIL) + 1  # a's head and what is past its tail; b1
    await h.finished()
    assert [m for m in h.ran if m[0] == "a"] == [f"a{n}" for n in range(1, 13)]
    assert "b1" in h.ran


async def test_after_a_give_back_nothing_overtakes_what_went_back() -> None:
    h = Harness()
    h.outcomes = {"a1": [Fate.HELD], "a3": [Fate.FAILED]}  # redelivered / dead-lettered
    ticket = h.receives.begin()  # a receive under way while a1 goes back
    h.dispatch([_received("a", 1), _received("a", 2)])
    await wait_for(lambda: h.released == [["a1", "a2"]], within=5, every=0.005)
    h.dispatch([_received("a", 2, "again"), _received("a", 3, "again")])  # answered first...
    await asyncio.sleep(0.05)
    assert h.ran == []  # ...but a1 is missing: nothing may overtake it
    h.dispatch([_received("a", 1, "again")])
    h.receives.end(ticket)
    await h.finished()
    assert h.ran == ["a1", "a2"]  # a3 was dead-lettered, the group went on


async def test_a_message_that_went_to_another_consumer_stops_holding_the_lane() -> None:
    h = Harness()
    h.outcomes = {"a1": [Fate.HELD]}
    ticket = h.receives.begin()
    h.dispatch([_received("a", 1), _received("a", 2)])
    await wait_for(lambda: len(h.released) == 1, within=5, every=0.005)
    h.dispatch([_received("a", 3, "again")])  # a1 and a2 went elsewhere; a3 is new
    await asyncio.sleep(0.05)
    assert h.ran == []
    h.receives.end(ticket)  # every receive under way at the give-back has answered
    await h.finished()
    assert h.ran == ["a3"]


# -- over the in-memory SQS: in-process redelivery, a copy of the running message ----------------------


async def test_a_failed_head_is_redelivered_in_process_and_its_group_stays_in_flight(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, fifo=True, max_receive_count=3)
    head = rig.put("a0", "fail", group="a")
    behind = rig.put("a1", group="a")
    rig.consumer.start()
    assert await until(lambda: ("end", "a1") in JOURNAL)
    await rig.stop()
    assert [e for e in events("start") if e[1] == "a0"] == [("start", "a0", n) for n in (1, 2, 3)]
    assert ("start", "a1", 1) in JOURNAL  # the follower's first delivery: its count never rose
    received = [e[2] for e in events("received") if e[2]]
    assert received == [[head, behind]]  # received once: no receive count rose
    assert events("visibility") == []  # nothing was given back to the queue
    (dead_id,) = sqs.ids(str(rig.dlq_url))
    dead = sqs.message(str(rig.dlq_url), dead_id)
    failure = read_failure(dead.attributes["bus.failure"]["StringValue"])
    assert (failure.reason, failure.attempt, failure.message_id) == ("handler-error", 3, head)
    assert index(("send", rig.dlq_url, dead.id)) < index(("delete", head))
    assert index(("send", rig.dlq_url, dead.id)) < index(("start", "a1", 1))  # then the next
    assert (rig.stats.redelivered, rig.stats.dead_lettered, rig.stats.processed) == (2, 1, 1)
    assert sqs.ids(rig.url) == []


async def test_a_head_that_succeeds_on_a_later_attempt_sees_that_attempt(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, fifo=True, max_receive_count=5)
    head = rig.put("a0", "fail-until:3", group="a")
    rig.consumer.start()
    assert await until(lambda: ("delete", head) in JOURNAL)
    await rig.stop()
    assert [e[2] for e in events("start")] == [1, 2, 3]
    assert (rig.stats.redelivered, rig.stats.processed, rig.stats.dead_lettered) == (2, 1, 0)


async def test_a_stop_during_the_backoff_gives_the_group_back(sqs: MemorySQS) -> None:
    retry = {"attempts": 1, "redelivery": {"initial": 60, "maximum": 60}}
    rig = await consumer(sqs, fifo=True, retry=retry)
    head = rig.put("a0", "fail", group="a")
    behind = rig.put("a1", group="a")
    rig.consumer.start()
    assert await until(lambda: ("end", "a0") in JOURNAL and rig.stats.redelivered == 1)
    await asyncio.wait_for(rig.stop(), 5)  # not after the 60 s backoff
    assert {e[1] for e in events("visibility") if e[2] == 0} == {head, behind}
    assert sqs.ids(rig.url) == [head, behind]
    assert [e[1] for e in events("start")] == ["a0"]


async def test_a_group_waiting_out_its_heads_backoff_leaves_other_groups_room(
    sqs: MemorySQS,
) -> None:
    retry = {"attempts": 1, "redelivery": {"initial": 600, "maximum": 600, "jitter": False}}
    rig = await consumer(sqs, fifo=True, concurrency=2, retry=retry, max_receive_count=3)
    head = rig.put("a1", "fail", group="A")
    behind = rig.put("a2", group="A")
    rig.put("b1", group="B")
    rig.consumer.start()
    await asyncio.sleep(30)  # virtual seconds: a1 waits out its first 600 s
    assert [e[1:] for e in events("start")] == [("a1", 1), ("b1", 1)]
    assert events("received")[0][2] == [head, behind]  # one receive: a2 waits behind a1
    await asyncio.sleep(1200)  # two more tries of a1, 600 s apart; then the DLQ, then a2
    assert await until(lambda: ("end", "a2") in JOURNAL)
    await rig.stop()
    starts = [e[1:] for e in events("start")]
    assert starts == [("a1", 1), ("b1", 1), ("a1", 2), ("a1", 3), ("a2", 1)]  # A in order
    (dead,) = sqs.ids(str(rig.dlq_url))
    assert index(("send", rig.dlq_url, dead)) < index(("start", "a2", 1))
    assert {e[2] for e in events("visibility")} == {30}  # the heartbeat's: A stayed in flight
    assert rig.consumer.capacity.free == rig.consumer.capacity.limit
    assert (rig.stats.in_flight, rig.consumer.heartbeat.tracked) == (0, 0)


class Stamps:
    """The virtual time of every call on the in-memory AWS, once it returned."""

    def __init__(self, sqs: MemorySQS) -> None:
        self.calls: list[tuple[float, Call]] = []
        sqs.faults.hook(None, "after", self._stamp)

    async def _stamp(self, call: Call) -> None:
        self.calls.append((asyncio.get_running_loop().time(), call))

    def received(self) -> list[tuple[float, list[str]]]:
        """When each receive that brought messages answered, and their ids."""
        return [
            (t, list(c.message_ids))
            for t, c in self.calls
            if c.operation == "ReceiveMessage" and c.message_ids
        ]

    def released(self) -> list[tuple[float, list[str]]]:
        """When each change to visibility 0 was made, and the ids it made visible, in order."""
        out = []
        for t, c in self.calls:
            if c.operation == "ChangeMessageVisibilityBatch" and c.error is None:
                entries = c.request["Entries"]
                if entries and all(int(e["VisibilityTimeout"]) == 0 for e in entries):
                    out.append((t, [message_id_of(e["ReceiptHandle"]) for e in entries]))
        return out


async def twelve_hours_rig(sqs: MemorySQS) -> Rig:
    """A FIFO queue whose redelivery backoff is SQS's whole 12 hours."""
    retry = {"attempts": 1, "redelivery": {"initial": 43200, "maximum": 43200, "jitter": False}}
    return await consumer(
        sqs,
        fifo=True,
        concurrency=2,
        retry=retry,
        max_receive_count=10,
        visibility_timeout=600,
        wait_seconds=20,
    )


async def test_a_backoff_past_the_12_hours_gives_the_group_back_in_order_before_them(
    sqs: MemorySQS,
) -> None:
    """A hold that fits in the window stays in-process: see
    ``test_a_group_waiting_out_its_heads_backoff_leaves_other_groups_room``."""
    rig = await twelve_hours_rig(sqs)
    stamps = Stamps(sqs)
    head = rig.put("a0", "fail-until:2", group="a")
    behind = rig.put("a1", group="a")
    with capture_logs() as logs:
        rig.consumer.start()
        await asyncio.sleep(MAX_VISIBILITY + 300)  # virtual seconds
        assert await until(lambda: ("end", "a1") in JOURNAL)
        await rig.stop()
    (first, ids), *later = stamps.received()
    assert ids == [head, behind]  # one receive: a1 waits behind a0 in its lane
    released = stamps.released()
    assert released, "the group was never given back"
    (given_back, order), *_ = released
    assert order == [head, behind]  # the whole group, head first
    # before the heartbeat's last extension runs out: never visible while this worker held it
    assert MAX_VISIBILITY - SLACK - 120 < given_back - first < MAX_VISIBILITY - SLACK
    assert all(t >= given_back for t, _ in later)  # received again only once given back
    starts = [e[1:] for e in events("start")]
    assert starts == [("a0", 1), ("a0", 2), ("a1", 2)]  # head again first; a1 one receive more
    assert index(("visibility", head, 0)) < index(("visibility", behind, 0))
    assert index(("visibility", behind, 0)) < index(("start", "a0", 2))
    assert ("delete", head) in JOURNAL
    assert ("delete", behind) in JOURNAL
    (warning,) = [e for e in logs if e.get("reason") == "visibility-limit"]
    assert warning["log_level"] == "warning"
    assert (warning["message_id"], warning["group"], warning["delay"]) == (head, "a", 43200)
    assert MAX_VISIBILITY - SLACK - 120 < warning["left"] < MAX_VISIBILITY - SLACK
    assert sqs.ids(rig.url) == []
    assert (rig.stats.in_flight, rig.consumer.heartbeat.tracked) == (0, 0)
    assert rig.consumer.capacity.free == rig.consumer.capacity.limit


async def test_a_dlq_send_retried_past_the_12_hours_gives_the_group_back(sqs: MemorySQS) -> None:
    rig = await twelve_hours_rig(sqs)
    stamps = Stamps(sqs)
    sqs.faults.fail("SendMessage", "InternalError", times=1)
    head = rig.put("a0", "reject", group="a")
    behind = rig.put("a1", group="a")
    rig.consumer.start()
    await asyncio.sleep(MAX_VISIBILITY + 300)  # virtual seconds
    assert await until(lambda: ("end", "a1") in JOURNAL)
    await rig.stop()
    (first, _), *_ = stamps.received()
    released = stamps.released()
    assert released, "the group was never given back"
    (given_back, order), *_ = released
    assert order == [head, behind]
    assert given_back - first < MAX_VISIBILITY - SLACK
    # the next receive runs the handler again (attempt 2); its DLQ copy is sent, then a1 is handled
    assert [e[1:] for e in events("start")] == [("a0", 1), ("a0", 2), ("a1", 2)]
    (dead,) = sqs.ids(str(rig.dlq_url))
    assert index(("send", rig.dlq_url, dead)) < index(("start", "a1", 2))
    assert sqs.ids(rig.url) == []


async def test_a_copy_of_the_running_message_is_not_handled_again(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, fifo=True)
    m = rig.put("a0", "gate", group="a")
    rig.consumer.start()
    assert await until(lambda: ("start", "a0", 1) in JOURNAL)
    sqs.expire(rig.url, m)  # visible again while it runs: the poller receives a second copy
    assert await until(lambda: rig.stats.received == 2)
    open_gate("a0")
    assert await until(lambda: ("delete", m) in JOURNAL or ("delete-refused", m) in JOURNAL)
    await rig.stop()
    assert events("start") == [("start", "a0", 1)]
    assert ("delete", m) in JOURNAL  # with the new receipt handle: the old one is refused
    assert ("delete-refused", m) not in JOURNAL
    assert sqs.ids(rig.url) == []
    assert (rig.stats.in_flight, rig.consumer.heartbeat.tracked) == (0, 0)


# -- end to end -----------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("fifo"), new_env())


PER_GROUP = 24
MARKS = {  # (group, n) -> the handler's behaviour (see apps.apply_seq)
    ("a", 3): "!",
    ("a", 7): "x",
    ("a", 12): "!",
    ("a", 20): "x",
    ("b", 5): "x",
    ("b", 6): "!",
    ("b", 23): "~",
    ("d", 0): "!",
    ("d", 1): "x",
    ("d", 2): "!",
}
DEAD = {"x", "~"}


@pytest.mark.aws
async def test_order_holds_with_several_pollers_failures_and_rejects(applied: Applied) -> None:
    run = uuid.uuid4().hex[:6]
    names = {g: f"{run}-{g}" for g in "abcd"}
    events = [
        apps.Seq(group=names[g], n=n, key=f"{names[g]}-{n}{MARKS.get((g, n), '')}")
        for n in range(PER_GROUP)
        for g in "abcd"
    ]
    handled = {
        names[g]: [n for n in range(PER_GROUP) if MARKS.get((g, n)) not in DEAD] for g in "abcd"
    }
    dead = {names[g]: [n for n in range(PER_GROUP) if MARKS.get((g, n)) in DEAD] for g in "abcd"}
    stats = Stats()
    apps.GROUPS_PEAK[0] = 0
    async with applied.running(stats):
        await applied.publisher().publish_many(events, check=True)
        await wait_for(
            lambda: (
                all(len(apps.SEQUENCE.get(g, [])) == len(handled[g]) for g in handled)
                and stats.queue("seq.fifo").dead_lettered == sum(map(len, dead.values()))
            ),
            within=90,
        )
    assert {g: apps.SEQUENCE[g] for g in handled} == handled
    assert [k for k in apps.OVERLAPS if k.startswith(run)] == []
    assert apps.GROUPS_PEAK[0] > 1  # groups did run in parallel
    letters: dict[str, list[int]] = {}
    for message in await applied.drain("seq-dlq.fifo"):
        letters.setdefault(message["Attributes"]["MessageGroupId"], []).append(
            json.loads(message["Body"])["data"]["n"]
        )
    assert letters == {g: numbers for g, numbers in dead.items() if numbers}
    queue = stats.queue("seq.fifo")
    # five '!' once each; '~' on each of its six attempts but the last: redelivered in-process,
    # with its group held in flight, so no other message's receive count rose
    assert queue.redelivered == 5 + 5
    assert queue.released == 0  # nothing went back to the queue
    assert await applied.depth("seq.fifo") == 0


async def _hold_in_flight(applied: Applied, count: int) -> list[str]:
    """Receive ``count`` messages as another consumer would, and keep them in flight."""
    url = await applied.queue_url("seq.fifo")
    receipts: list[str] = []
    while len(receipts) < count:
        answer = await applied.aws.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        )
        receipts += [m["ReceiptHandle"] for m in answer.get("Messages", [])]
    return receipts


async def _soon(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait a little for ``check``; go on either way (real SQS would not hand the group out)."""
    with contextlib.suppress(AssertionError):
        await wait_for(check, within=within)


@pytest.mark.aws
async def test_a_group_handed_out_again_while_in_progress_keeps_its_order(
    applied: Applied,
) -> None:
    """LocalStack makes a group receivable again as soon as one of its earlier messages becomes
    visible, while later ones are in flight: here another consumer holds the whole group and lets
    it go one message at a time, while the first (slow) one is still being handled by the worker.
    """
    group = f"{uuid.uuid4().hex[:6]}-slow"
    keys = [f"{group}-0@", f"{group}-1", f"{group}-2"]
    events = [apps.Seq(group=group, n=n, key=key) for n, key in enumerate(keys)]
    await applied.publisher().publish_many(events, check=True)
    receipts = await _hold_in_flight(applied, len(events))
    url = await applied.queue_url("seq.fifo")
    stats = Stats()
    async with applied.running(stats):
        for n, receipt in enumerate(receipts):
            await applied.aws.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
            )
            await _soon(lambda n=n: stats.queue("seq.fifo").received > n)
            if n == 0:
                await _soon(lambda: keys[0] in apps.SEQ_STARTED)
        await wait_for(lambda: len(apps.SEQUENCE.get(group, [])) == len(keys), within=30)
    assert apps.SEQUENCE[group] == [0, 1, 2]
    assert [k for k in apps.OVERLAPS if k.startswith(group)] == []
    assert await applied.depth("seq.fifo") == 0


async def test_a_failing_dlq_send_is_tried_again_without_running_the_handler_again(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, fifo=True, max_receive_count=2)
    sqs.faults.fail("SendMessage", "InternalError", times=2)
    head = rig.put("a0", "fail", group="a")
    rig.consumer.start()
    assert await until(lambda: ("delete", head) in JOURNAL, within=10)
    await rig.stop()
    assert [e for e in events("start") if e[1] == "a0"] == [("start", "a0", 1), ("start", "a0", 2)]
    sends = events("send")
    assert [s[2] is None for s in sends] == [True, True, False]  # refused twice, then sent
    assert index(sends[-1]) < index(("delete", head))
    assert rig.stats.dead_lettered == 1


async def test_a_stop_while_the_dlq_send_keeps_failing_gives_the_group_back(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, fifo=True, max_receive_count=1)
    sqs.faults.fail("SendMessage", "InternalError", times=None)
    head = rig.put("a0", "fail", group="a")
    behind = rig.put("a1", group="a")
    rig.consumer.start()
    assert await until(lambda: len(events("send")) >= 1)
    await asyncio.wait_for(rig.stop(), 5)
    assert [e[1] for e in events("start")] == ["a0"]  # the handler ran once
    assert {e[1] for e in events("visibility") if e[2] == 0} == {head, behind}
    # given back with their one receive used: the poll still under way at the stop may receive
    # them again, and then SQS's own redrive moves them to the DLQ; nothing is lost either way
    where = sqs.ids(rig.url) + sqs.ids(str(rig.dlq_url))
    assert sorted(where) == sorted([head, behind])
