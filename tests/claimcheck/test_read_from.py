"""``claim_check.read_from`` on the in-memory AWS: a consumer follows a pointer into its own bucket
and the buckets listed (any bucket by default, or without a ``claim_check`` section); a pointer into
another bucket is dead-lettered at once as ``claim-check-refused`` with no GetObject made, by the
worker and by the Lambda entry point, raw or inside an SNS notification; ``bus dlq show --full``
does not follow it either."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import BaseModel

from bus.aws_lambda import LambdaConsumer, event_of
from bus.claimcheck import Pointer, claim_reader
from bus.dlq.claims import with_payloads
from bus.dlq.inspect import Peeked
from bus.envelope import encode_body, new_envelope
from bus.memory import Harness, open_harness
from bus.memory.faults import Call
from bus.topology.model import physical_name
from tests.claimcheck import apps

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "partner-payloads"
"""Another producer's bucket: a physical name, no environment prefix."""
STRANGER = "someone-elses-bucket"
TOPOLOGY = """
name: guarded
topics:
  blobs: {}
queues:
  wrapped: {dead_letter: {max_receive_count: 3}}
  direct: {dead_letter: {max_receive_count: 3}}
subscriptions:
  - {topic: blobs, queue: wrapped}
events:
  Blob: {model: tests.claimcheck.apps:Blob, publish_to: [{topic: blobs}]}
  DirectBlob: {model: tests.claimcheck.apps:DirectBlob, publish_to: [{queue: direct}]}
handlers:
  wrapped: {events: {Blob: "tests.claimcheck.apps:record"}}
  direct: {events: {DirectBlob: "tests.claimcheck.apps:record"}}
"""


@asynccontextmanager
async def guarded(tmp_path: Path, read_from: str | None) -> AsyncIterator[Harness]:
    """The topology with ``claim_check`` (``read_from`` as written; ``None``: no such key) on an
    in-memory AWS with the partner's and a stranger's buckets."""
    section = (
        "{bucket: payloads}"
        if read_from is None
        else f"{{bucket: payloads, read_from: {read_from}}}"
    )
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY + f"claim_check: {section}\n")
    async with open_harness(path, base_dir=ROOT) as shop:
        for bucket in (PARTNER, STRANGER):
            await shop.aws.s3.create_bucket(Bucket=bucket)
        yield shop


async def stored(shop: Harness, bucket: str, event: BaseModel) -> Pointer:
    """``event``'s envelope stored in ``bucket`` as a producer would: the pointer to it."""
    pointer = Pointer(bucket, f"k-{uuid.uuid4().hex}")
    body = encode_body(new_envelope(shop.registry.event_type_of(event), event))
    await shop.aws.s3.put_object(Bucket=bucket, Key=pointer.key, Body=body.encode())
    return pointer


async def send(shop: Harness, pointer: Pointer) -> str:
    """``pointer`` sent raw to queue ``direct``; its message id."""
    url = (await shop.aws.sqs.get_queue_url(QueueName=physical_name("direct", shop.env)))[
        "QueueUrl"
    ]
    answer = await shop.aws.sqs.send_message(QueueUrl=url, MessageBody=pointer.body())
    return str(answer["MessageId"])


def blob(direct: bool = True) -> apps.Blob:
    key = f"rf-{uuid.uuid4().hex[:10]}"
    return apps.DirectBlob(key=key, data="d") if direct else apps.Blob(key=key, data="w")


def gets(calls: list[Call]) -> list[str]:
    return [str(c.request["Bucket"]) for c in calls if c.operation == "GetObject"]


async def test_a_pointer_into_the_own_bucket_is_read_with_read_from_empty(tmp_path: Path) -> None:
    async with guarded(tmp_path, "[]") as shop:
        event = blob()
        await send(shop, await stored(shop, physical_name("payloads", shop.env), event))
        await shop.run_until_idle()
        assert shop.dead_letters("direct") == []
    assert "direct" in apps.seen(event.key)


async def test_a_pointer_into_another_bucket_is_refused_without_a_get(tmp_path: Path) -> None:
    async with guarded(tmp_path, "[]") as shop:
        event = blob()
        pointer = await stored(shop, STRANGER, event)
        message_id = await send(shop, pointer)
        calls = shop.aws.faults.record()
        await shop.run_until_idle()
        (letter,) = shop.dead_letters("direct")
    assert gets(calls) == []
    assert apps.seen(event.key) == {}
    assert letter.body == pointer.body()  # dead-lettered as it came
    assert letter.failure.reason == "claim-check-refused"
    assert letter.failure.attempt == 1  # at once, never retried
    error = letter.failure.error or ""
    assert f"message {message_id}" in error
    assert f"'{pointer}' refused" in error  # bucket and key
    assert f"bucket '{STRANGER}'" in error
    assert "claim_check.read_from" in error


async def test_a_listed_bucket_is_read_and_an_unlisted_one_refused(tmp_path: Path) -> None:
    async with guarded(tmp_path, f"[{PARTNER}]") as shop:
        listed, unlisted = blob(), blob()
        await send(shop, await stored(shop, PARTNER, listed))
        await send(shop, await stored(shop, STRANGER, unlisted))
        calls = shop.aws.faults.record()
        await shop.run_until_idle()
        (letter,) = shop.dead_letters("direct")
    assert gets(calls) == [PARTNER]
    assert "direct" in apps.seen(listed.key)
    assert letter.failure.reason == "claim-check-refused"


async def test_by_default_and_without_a_claim_check_any_bucket_is_read(tmp_path: Path) -> None:
    for read_from in (None, "any"):
        async with guarded(tmp_path, read_from) as shop:
            event = blob()
            await send(shop, await stored(shop, STRANGER, event))
            await shop.run_until_idle()
            assert shop.dead_letters("direct") == []
        assert "direct" in apps.seen(event.key), read_from
    path = tmp_path / "plain.yaml"
    path.write_text(TOPOLOGY)
    async with open_harness(path, base_dir=ROOT) as shop:
        assert shop.topology.claim_check is None
        await shop.aws.s3.create_bucket(Bucket=STRANGER)
        event = blob()
        await send(shop, await stored(shop, STRANGER, event))
        await shop.run_until_idle()
    assert "direct" in apps.seen(event.key)


async def test_a_pointer_inside_an_sns_notification_is_refused_too(tmp_path: Path) -> None:
    async with guarded(tmp_path, f"[{PARTNER}]") as shop:
        allowed, refused = blob(direct=False), blob(direct=False)
        topic = await shop.aws.sns.create_topic(Name=physical_name("blobs", shop.env))
        for bucket, event in ((PARTNER, allowed), (STRANGER, refused)):
            pointer = await stored(shop, bucket, event)
            await shop.aws.sns.publish(TopicArn=topic["TopicArn"], Message=pointer.body())
        notes = [json.loads(m["Body"]) for m in shop.messages("wrapped")]
        assert [n["Type"] for n in notes] == ["Notification"] * 2
        calls = shop.aws.faults.record()
        await shop.run_until_idle()
        (letter,) = shop.dead_letters("wrapped")
    assert gets(calls) == [PARTNER]
    assert "wrapped" in apps.seen(allowed.key)
    assert apps.seen(refused.key) == {}
    assert letter.failure.reason == "claim-check-refused"
    assert STRANGER in (letter.failure.error or "")


async def test_the_lambda_entry_point_dead_letters_a_refused_pointer(tmp_path: Path) -> None:
    async with guarded(tmp_path, "[]") as shop:
        event = blob()
        await send(shop, await stored(shop, STRANGER, event))
        name = physical_name("direct", shop.env)
        url = (await shop.aws.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        got = await shop.aws.sqs.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
        )
        arn = f"arn:aws:sqs:us-east-1:000000000000:{name}"
        calls = shop.aws.faults.record()
        consumer = await LambdaConsumer.open(shop.worker(queues=("direct",)), "direct")
        response = await consumer.handle(event_of(got["Messages"], arn, "us-east-1"), None)
        (letter,) = shop.dead_letters("direct")
    assert response == {"batchItemFailures": []}  # safely in the DLQ: a success for the mapping
    assert gets(calls) == []
    assert letter.failure.reason == "claim-check-refused"


async def test_dlq_show_full_shows_a_refused_pointer_unread(tmp_path: Path) -> None:
    async with guarded(tmp_path, f"[{PARTNER}]") as shop:
        await send(shop, await stored(shop, STRANGER, blob()))
        await shop.run_until_idle()
        letters = Peeked(shop.dead_letters("direct"))
        calls = shop.aws.faults.record()
        (shown,) = await with_payloads(shop.aws, letters, shop.topology, shop.env)
        (anywhere,) = await with_payloads(shop.aws, letters, None, shop.env)  # no topology
    assert gets(calls) == [STRANGER]  # only the reader without a topology followed it
    assert shown.body == letters[0].body  # the pointer, unread
    assert "refused" in (shown.decode_error or "")
    assert "claim_check.read_from" in (shown.decode_error or "")
    assert anywhere.envelope is not None


def test_the_reader_allows_the_own_physical_bucket_and_the_listed_ones(tmp_path: Path) -> None:
    from bus.topology.load import load_topology

    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY + f"claim_check: {{bucket: payloads, read_from: [{PARTNER}]}}\n")
    reader = claim_reader(None, load_topology(path), "prod")  # type: ignore[arg-type]
    assert reader.read_from.buckets == {"prod-payloads", PARTNER}
    assert not reader.read_from.allows("payloads")  # the logical name is not the bucket
    assert claim_reader(None, None, "prod").read_from.allows(STRANGER)  # type: ignore[arg-type]


async def test_a_stop_during_a_payload_read_releases_the_message_at_once(tmp_path: Path) -> None:
    async with guarded(tmp_path, None) as shop:
        reading, never = asyncio.Event(), asyncio.Event()

        async def hang(call: Call) -> None:  # S3 answering no more: the read outlasts the grace
            reading.set()
            await never.wait()

        shop.aws.faults.hook("GetObject", "before", hang)
        calls = shop.aws.faults.record()
        message_id = await send(
            shop, await stored(shop, physical_name("payloads", shop.env), blob())
        )
        worker = shop.worker()
        await worker.start()
        await asyncio.wait_for(reading.wait(), 60)
        await worker.stop(grace=0.1)
    timeouts = [
        entry["VisibilityTimeout"]
        for c in calls
        if c.operation == "ChangeMessageVisibilityBatch"
        for entry in c.request["Entries"]
    ] + [c.request["VisibilityTimeout"] for c in calls if c.operation == "ChangeMessageVisibility"]
    assert timeouts[-1:] == [0]  # released at once, not left for its visibility timeout
    assert message_id in shop.aws.memory_sqs.queues[physical_name("direct", shop.env)].messages
