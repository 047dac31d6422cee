"""What the dispatcher does with a message, over the in-memory SQS: the DLQ send comes before the
delete and a failed send deletes nothing; without a DLQ the message stays; each queue's
``concurrency`` bounds its handlers; the idempotency guard skips what was handled."""

from __future__ import annotations

import pytest

from tests.worker import apps
from tests.worker.rig import JOURNAL, MemorySQS, consumer, events, index, until

LATER = {"attempts": 1, "redelivery": {"initial": 5, "maximum": 5, "jitter": False}}


@pytest.mark.parametrize("behaviour", ["reject", "fail"])
async def test_the_dlq_send_comes_before_the_delete(behaviour: str, sqs: MemorySQS) -> None:
    rig = await consumer(sqs, max_receive_count=1)  # "fail" dies on its first receive
    m = rig.put("k", behaviour)
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    ((_, _, copy),) = events("send")
    assert index(("send", rig.dlq_url, copy)) < index(("delete", m))
    failure = rig.failure_of(copy)
    assert failure.reason == ("rejected" if behaviour == "reject" else "handler-error")
    assert sqs.ids(rig.url) == []


async def test_an_undecodable_message_goes_to_the_dlq_first_then_is_deleted(sqs: MemorySQS) -> None:
    rig = await consumer(sqs)
    m = sqs.put(rig.url, "this is not json")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    ((_, _, copy),) = events("send")
    assert index(("send", rig.dlq_url, copy)) < index(("delete", m))
    assert events("start") == []


async def test_a_failed_dlq_send_deletes_nothing_and_redelivers_later(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, retry=LATER)
    sqs.faults.fail("SendMessage", "InternalError")
    m = rig.put("k", "reject")
    rig.consumer.start()
    assert await until(lambda: ("visibility", m, 5) in JOURNAL)
    await rig.stop()
    assert events("send") == [("send", rig.dlq_url, None)]  # tried, refused
    assert ("delete", m) not in JOURNAL
    assert sqs.ids(rig.url) == [m]
    assert sqs.ids(str(rig.dlq_url)) == []
    assert rig.stats.dead_lettered == 0


async def test_without_a_dlq_a_message_given_up_on_stays_on_its_queue(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, dlq=False, retry=LATER)
    m = rig.put("k", "reject")
    rig.consumer.start()
    assert await until(lambda: ("visibility", m, 5) in JOURNAL)
    await rig.stop()
    assert events("send") == []
    assert ("delete", m) not in JOURNAL
    assert sqs.ids(rig.url) == [m]


async def test_a_queues_concurrency_bounds_its_handlers(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, concurrency=3, pollers=2, handler="tests.worker.apps:record")
    apps.PEAK[rig.consumer.info.name] = 0
    keys = [f"conc-{n}" for n in range(12)]
    for key in keys:
        rig.put(key, "slow:0.05")
    rig.consumer.start()
    assert await until(lambda: set(keys) <= apps.keys_handled("conc-"))
    await rig.stop()
    assert apps.PEAK[rig.consumer.info.name] == 3
    assert rig.stats.processed == 12


async def test_the_idempotency_guard_skips_an_event_already_handled(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, idempotent=True)
    body = rig.body("once")
    first = sqs.put(rig.url, body)
    rig.consumer.start()
    assert await until(lambda: ("delete", first) in JOURNAL)
    again = sqs.put(rig.url, body)  # the same event id, delivered again
    assert await until(lambda: ("delete", again) in JOURNAL)
    await rig.stop()
    assert events("start") == [("start", "once", 1)]
    assert rig.stats.duplicates == 1
