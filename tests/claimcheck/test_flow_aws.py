"""The claim check end to end on LocalStack: a large event fanned out through SNS to three queues is
handled by all three; the real ``amazon-sqs-extended-client`` reads what bus sends and bus handles
what it sends; a pointer to a missing object goes to the DLQ with its reason, once; a claim-checked
dead letter keeps its pointer, ``bus dlq show --full`` reads its payload, and a redrive sends the
pointer back; a pointer into a bucket not in ``claim_check.read_from`` goes to the DLQ unread."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
import pytest_asyncio
from botocore.config import Config
from sqs_extended_client import SQSExtendedClientSession
from typer.testing import CliRunner

from bus import dlq
from bus.aws import AwsClients
from bus.aws.limits import KIB
from bus.claimcheck import ClaimReader
from bus.claimcheck.pointer import POINTER_CLASS, SIZE_ATTRIBUTE, Pointer
from bus.cli import app
from bus.dlq.claims import with_payloads
from bus.envelope import decode, encode_body, new_envelope
from bus.topology.model import physical_name
from tests.claimcheck import apps
from tests.worker.conftest import Applied, apply_topology, module_aws, new_env, wait_for

pytestmark = pytest.mark.aws
__all__ = ["module_aws"]

TOPOLOGY = """
name: claims
topics:
  blobs: {}
queues:
  a: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  b: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  c: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  direct: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  guarded: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
subscriptions:
  - {topic: blobs, queue: a, raw_message_delivery: true}
  - {topic: blobs, queue: b}
  - {topic: blobs, queue: c}
events:
  Blob: {model: tests.claimcheck.apps:Blob, publish_to: [{topic: blobs}]}
  DirectBlob: {model: tests.claimcheck.apps:DirectBlob, publish_to: [{queue: direct}]}
handlers:
  a: {events: {Blob: "tests.claimcheck.apps:record"}}
  b: {events: {Blob: "tests.claimcheck.apps:record"}}
  c: {events: {Blob: "tests.claimcheck.apps:record"}}
  direct: {events: {DirectBlob: "tests.claimcheck.apps:record"}}
  guarded: {events: {DirectBlob: "tests.claimcheck.apps:record"}}
claim_check: {bucket: payloads}
"""
LARGE = 300 * KIB
"""Over SNS's 256 KiB and bus's default queue maximum_message_size (256 KiB)."""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("claims"), new_env())


def key() -> str:
    return "k" + uuid.uuid4().hex[:10]


def bucket(applied: Applied) -> str:
    return physical_name("payloads", applied.env)


def extended_client(applied: Applied) -> Any:
    """The AWS extended client (boto3) on the emulator, with its S3 client addressed by path."""
    settings = applied.aws.settings
    session = SQSExtendedClientSession(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=settings.region
    )
    sqs = session.client("sqs", endpoint_url=settings.endpoint_url)
    sqs.s3_client = boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )
    sqs.large_payload_support = bucket(applied)
    return sqs


async def test_a_large_event_fanned_out_to_three_queues_is_handled_by_all_three(
    applied: Applied,
) -> None:
    k = key()
    event = apps.Blob(key=k, data="x" * LARGE)
    async with applied.running():
        result = await applied.publisher().publish(event)
        await wait_for(lambda: set(apps.seen(k)) == {"a", "b", "c"})
    want = (LARGE, apps.digest(event.data))
    assert {q: (s.size, s.digest) for q, s in apps.seen(k).items()} == dict.fromkeys("abc", want)
    head = await applied.aws.s3.head_object(Bucket=bucket(applied), Key=result.event_id)
    assert head["ContentLength"] > LARGE  # no consumer deleted it: the lifecycle rule will
    for queue in "abc":
        assert await applied.depth(queue) == 0


async def test_the_extended_client_reads_what_bus_sends(applied: Applied) -> None:
    k = key()
    event = apps.DirectBlob(key=k, data="y" * LARGE)
    await applied.publisher().publish(event)
    sqs = extended_client(applied)
    url = await applied.queue_url("direct")
    answer = await asyncio.to_thread(
        sqs.receive_message, QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=5
    )
    (message,) = answer["Messages"]
    assert SIZE_ATTRIBUTE not in message["MessageAttributes"]  # the client took it off
    assert message["MessageAttributes"]["event_type"]["StringValue"] == "DirectBlob"
    assert decode(message["Body"]).envelope.data == event.model_dump()
    await asyncio.to_thread(
        sqs.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
    )


async def test_the_extended_client_reads_a_large_event_bus_published_to_a_topic(
    applied: Applied,
) -> None:
    """Through SNS with raw message delivery, the pointer and its attribute arrive as they left."""
    k = key()
    event = apps.Blob(key=k, data="t" * LARGE)
    await applied.publisher().publish(event)
    sqs = extended_client(applied)
    url = await applied.queue_url("a")
    answer = await asyncio.to_thread(
        sqs.receive_message, QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=5
    )
    (message,) = answer["Messages"]
    assert decode(message["Body"]).envelope.data == event.model_dump()
    await asyncio.to_thread(
        sqs.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
    )
    for queue in "bc":  # the enveloped subscribers' copies: not this test's subject
        assert len(await applied.drain(queue)) == 1


async def test_bus_handles_what_the_extended_client_sends(applied: Applied) -> None:
    k = key()
    event = apps.DirectBlob(key=k, data="z" * LARGE)
    spec = applied.registry.event_type_of(event)
    body = encode_body(new_envelope(spec, event))
    sqs = extended_client(applied)
    url = await applied.queue_url("direct")
    await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody=body)
    async with applied.running():
        await wait_for(lambda: "direct" in apps.seen(k))
    assert apps.seen(k)["direct"].digest == apps.digest(event.data)


async def test_a_missing_payload_is_dead_lettered_and_a_claim_checked_dead_letter_shows_in_full(
    applied: Applied,
) -> None:
    url = await applied.queue_url("direct")
    gone = Pointer(bucket(applied), f"gone-{key()}")
    await applied.aws.sqs.send_message(
        QueueUrl=url,
        MessageBody=gone.body(),
        MessageAttributes={SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": "400000"}},
    )
    k = key()
    rejected = apps.DirectBlob(key=k, data="r" * LARGE, reject=True)
    async with applied.running():
        await applied.publisher().publish(rejected)
        await wait_for(lambda: _dlq_depth(applied, 2), within=30)
    dlq_url = await applied.queue_url("direct-dlq")
    letters = await dlq.peek(applied.aws, dlq_url, limit=10, hold_seconds=1)
    by_reason = {d.failure.reason: d for d in letters}
    assert set(by_reason) == {"claim-check-missing", "rejected"}
    missing = by_reason["claim-check-missing"]
    assert missing.body == gone.body()  # moved as it came, pointer and all
    assert missing.failure.attempt == 1  # dead-lettered on its first delivery, not retried
    assert f"{gone} is gone" in (missing.failure.error or "")
    claimed = by_reason["rejected"]
    assert json.loads(claimed.body)[0] == POINTER_CLASS
    assert claimed.pointer is not None
    assert claimed.event_type is not None

    await asyncio.sleep(1.5)  # the peek's hold
    full = await with_payloads(applied.aws, letters, applied.topology, applied.env)
    shown = {d.failure.reason: d for d in full}
    assert shown["rejected"].envelope is not None
    assert shown["rejected"].data == rejected.model_dump()
    assert "is gone" in (shown["claim-check-missing"].decode_error or "")

    settings = applied.aws.settings
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["dlq", "show", "direct-dlq", "--full", "--topology", str(applied.path), "--env",
         applied.env, "--endpoint-url", str(settings.endpoint_url), "--region",
         str(settings.region), "--visibility-timeout", "1"],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "claim check" in result.output
    assert "r" * 5000 in result.output  # the payload itself, not the pointer

    await asyncio.sleep(1.5)
    options = dlq.RedriveOptions(
        selection=dlq.Selection.build(reasons=["rejected"]), hold_seconds=5
    )
    report = await dlq.redrive_selected(
        applied.aws, dlq_url, topology=applied.topology, env=applied.env, options=options
    )
    assert report.moved == 1
    (back,) = await applied.drain("direct")
    assert back["Body"] == claimed.body  # the pointer went back, not the payload
    assert back["MessageAttributes"][SIZE_ATTRIBUTE]["DataType"] == "Number"
    again = await ClaimReader(applied.aws).decode(
        back["Body"], back["MessageAttributes"], back["MessageId"]
    )
    assert again.envelope.data == rejected.model_dump()


async def _dlq_depth(applied: Applied, n: int) -> bool:
    return await applied.depth("direct-dlq") >= n


async def test_a_pointer_into_a_bucket_not_in_read_from_is_dead_lettered_unread(
    applied: Applied,
) -> None:
    partner, stranger = f"{applied.env}-partner", f"{applied.env}-stranger"
    section = applied.topology.claim_check
    assert section is not None
    listed = section.model_copy(update={"read_from": [partner]})
    guarded = dataclasses.replace(
        applied, topology=applied.topology.model_copy(update={"claim_check": listed})
    )
    url = await applied.queue_url("guarded")
    allowed, refused = (apps.DirectBlob(key=key(), data="g") for _ in range(2))
    pointers = {}
    for name, event in ((partner, allowed), (stranger, refused)):
        pointers[name] = await _stored(applied, name, event)
        await applied.aws.sqs.send_message(QueueUrl=url, MessageBody=pointers[name].body())
    async with guarded.running(queues=("guarded",)):
        await wait_for(lambda: _dlq_of(applied, "guarded-dlq", 1), within=15)
        await wait_for(lambda: "guarded" in apps.seen(allowed.key))
    assert apps.seen(refused.key) == {}
    (letter,) = await dlq.peek(
        applied.aws, await applied.queue_url("guarded-dlq"), limit=10, hold_seconds=1
    )
    assert letter.failure.reason == "claim-check-refused"
    assert letter.body == pointers[stranger].body()
    assert f"'{pointers[stranger]}' refused" in (letter.failure.error or "")
    assert await applied.depth("guarded") == 0


async def _stored(applied: Applied, name: str, event: apps.Blob) -> Pointer:
    """A bucket ``name`` holding ``event``'s envelope, as another producer's would: the pointer."""
    region = applied.aws.settings.region
    if region == "us-east-1":
        await applied.aws.s3.create_bucket(Bucket=name)
    else:
        where: Any = {"LocationConstraint": region}
        await applied.aws.s3.create_bucket(Bucket=name, CreateBucketConfiguration=where)
    spec = applied.registry.event_type_of(event)
    pointer = Pointer(name, key())
    body = encode_body(new_envelope(spec, event)).encode()
    await applied.aws.s3.put_object(Bucket=name, Key=pointer.key, Body=body)
    return pointer


async def _dlq_of(applied: Applied, queue: str, n: int) -> bool:
    return await applied.depth(queue) >= n
