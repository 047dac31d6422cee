"""A receive error that waiting cannot heal ends the queue's consumer after a few tries in a row;
one that can (throttling, an outage) never does."""

from __future__ import annotations

from bus.worker import FatalReceiveError
from bus.worker.poller import FATAL_TRIES
from tests.worker.rig import JOURNAL, MemorySQS, consumer, until


async def test_a_missing_queue_ends_the_consumer_with_queue_and_code(sqs: MemorySQS) -> None:
    rig = await consumer(sqs)
    sqs.faults.fail("ReceiveMessage", "AWS.SimpleQueueService.NonExistentQueue", times=100)
    rig.consumer.start()
    assert await until(rig.consumer.failed.is_set, 30)
    await rig.stop()
    failure = rig.consumer.failure
    assert isinstance(failure, FatalReceiveError)
    assert failure.code == "AWS.SimpleQueueService.NonExistentQueue"
    assert failure.queue == "q"
    assert "cannot receive from queue q" in str(failure)
    assert JOURNAL.count(("receive", rig.url)) == FATAL_TRIES


async def test_throttling_is_retried_and_never_ends_the_consumer(sqs: MemorySQS) -> None:
    rig = await consumer(sqs)
    sqs.faults.fail("ReceiveMessage", "ThrottlingException", times=4)
    m = rig.put("k")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL, 30)
    await rig.stop()
    assert rig.consumer.failure is None
