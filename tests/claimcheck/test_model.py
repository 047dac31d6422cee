"""The claim check without AWS: the topology section, its bucket resource and checks, its place in
``bus graph``, and which events the publish step offloads (S3 replaced by a recording stand-in)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bus.aws.clients import Account
from bus.aws.limits import KIB, MIB
from bus.claimcheck import ClaimCheck, ClaimReader, Pointer
from bus.claimcheck.pointer import SIZE_ATTRIBUTE, read_pointer
from bus.envelope import decode
from bus.errors import ClaimCheckError, MessageTooLargeError
from bus.middleware.publish import Outgoing, OutgoingBatch
from bus.publish.prepare import EventRoute, FlowContext, channel_of, prepare_routed
from bus.schema import Registry
from bus.topology.check import check_topology
from bus.topology.claim_model import ClaimCheck as Section
from bus.topology.graph import build, mermaid
from bus.topology.model import Topology
from bus.topology.resolve import desired_resources
from tests.claimcheck.apps import Blob, DirectBlob

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = Account(account_id="123456789012", region="eu-west-1")
DATA: dict[str, Any] = {
    "name": "claims",
    "topics": {"blobs": {}},
    "queues": {"direct": {}, "big": {"maximum_message_size": MIB}},
    "buses": {"shop": {}},
    "events": {
        "Blob": {"model": "tests.claimcheck.apps:Blob", "publish_to": [{"topic": "blobs"}]},
        "DirectBlob": {
            "model": "tests.claimcheck.apps:DirectBlob",
            "publish_to": [{"queue": "direct"}, {"bus": "shop"}],
        },
    },
    "claim_check": {"bucket": "shop-payloads", "threshold": "100KiB", "expire_after": "3d"},
}
TOPOLOGY = Topology.model_validate(DATA)
REGISTRY = Registry.from_topology(TOPOLOGY, ROOT)


def test_sizes_and_days_are_read_with_units() -> None:
    section = TOPOLOGY.claim_check
    assert section is not None
    assert (section.threshold, section.expire_after, section.max_size) == (100 * KIB, 3, 16 * MIB)
    assert Section(bucket="abc", max_size="2MiB", expire_after=7).max_size == 2 * MIB


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bucket", "Shop_Payloads", "S3 bucket name"),
        ("bucket", "a..b", "S3 bucket name"),
        ("threshold", "2MiB", "less than or equal to 1048576"),
        ("threshold", "big", "is not a size"),
        ("expire_after", "2w", "number of days"),
        ("expire_after", 0, "greater than or equal to 1"),
    ],
)
def test_a_bad_section_names_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Section.model_validate({"bucket": "shop-payloads", field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_read_from_is_any_by_default_or_a_list_of_bucket_names() -> None:
    assert Section(bucket="abc").read_from is None  # any bucket
    assert Section.model_validate({"bucket": "abc", "read_from": "any"}).read_from is None
    assert Section.model_validate({"bucket": "abc", "read_from": []}).read_from == []
    listed = Section.model_validate({"bucket": "abc", "read_from": ["partner-payloads", "x.y.z"]})
    assert listed.read_from == ["partner-payloads", "x.y.z"]
    for section in (Section(bucket="abc"), listed):  # a dump loads back: None is written `any`
        assert Section.model_validate(section.model_dump()) == section
    assert Section(bucket="abc").model_dump(mode="json")["read_from"] == "any"


@pytest.mark.parametrize(
    ("value", "loc", "message"),
    [
        (["ok-bucket", "Partner_Payloads"], ("read_from", 1), "S3 bucket name"),
        (["a..b"], ("read_from", 0), "S3 bucket name"),
        (["ab"], ("read_from", 0), "S3 bucket name"),
        (["any"], ("read_from", 0), "write `read_from: any` \\(not in a list\\)"),
        (["abc", "def", "abc"], ("read_from",), "'abc' listed more than once"),
        (
            "everything",
            ("read_from",),
            "must be any or a list of S3 bucket names, got 'everything'",
        ),
        (None, ("read_from",), "got null"),
        (5, ("read_from",), "valid list"),
    ],
)
def test_a_bad_read_from_names_its_entry(
    value: object, loc: tuple[object, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Section.model_validate({"bucket": "shop-payloads", "read_from": value})
    assert info.value.errors()[0]["loc"] == loc


def test_the_bucket_is_encrypted_private_expiring_and_tagged() -> None:
    (bucket,) = [r for r in desired_resources(TOPOLOGY, "dev", ACCOUNT) if r.kind == "bucket"]
    assert bucket.name == "dev-shop-payloads"
    assert bucket.attributes["Encryption"] == "AES256"
    assert json.loads(bucket.attributes["PublicAccessBlock"]) == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket.attributes["ExpireAfterDays"] == "3"
    assert bucket.tags == {"bus:topology": "claims", "bus:env": "dev", "bus:managed": "true"}
    assert bucket.ref == {"arn": "arn:aws:s3:::dev-shop-payloads", "region": "eu-west-1"}


def test_no_section_no_bucket() -> None:
    plain = TOPOLOGY.model_copy(update={"claim_check": None})
    assert not [r for r in desired_resources(plain, "dev", ACCOUNT) if r.kind == "bucket"]


def test_a_physical_name_s3_refuses_is_a_finding() -> None:
    long_env = "e" * 60
    findings = [f for f in check_topology(TOPOLOGY, long_env) if f.path[0] == "claim_check"]
    assert len(findings) == 1
    assert "not a valid S3 bucket name" in findings[0].message


def test_the_graph_shows_the_bucket_and_what_it_carries() -> None:
    text = mermaid(build(TOPOLOGY, "dev"))
    assert "bucket_shop_payloads[(" in text
    assert "dev-shop-payloads" in text
    assert 'topic_blobs -.->|"large events"| bucket_shop_payloads' in text
    assert 'queue_direct -.->|"large events"|' not in text  # DirectBlob also goes to EventBridge


# -- the publish step -----------------------------------------------------------------------------


class RecordingS3:
    """Stands in for S3 in bus's own control flow: keeps what was put."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    async def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        await asyncio.sleep(0)  # an upload finishes after the event step returned
        self.objects[(Bucket, Key)] = Body


class Aws:
    def __init__(self) -> None:
        self.s3 = RecordingS3()


async def _publish_step(
    middleware: ClaimCheck, event: Blob
) -> tuple[Outgoing, dict[tuple[str, str], bytes]]:
    spec = REGISTRY.event_type_of(event)
    channels = tuple(channel_of(d, TOPOLOGY) for d in spec.destinations)
    route = EventRoute.of(spec, channels)

    async def prepare(outgoing: Outgoing) -> None:
        outgoing.prepared = prepare_routed(
            0, route, event, FlowContext(), check_size=outgoing.check_size
        )

    async def send(batch: OutgoingBatch) -> None:
        stored = middleware._aws.s3.objects  # type: ignore[attr-defined]
        for entry in batch.entries:  # what is sent points to an object already written
            pointer = read_pointer(entry.body)
            assert pointer is None or (pointer.bucket, pointer.key) in stored

    outgoing = Outgoing(event, 0)
    await middleware.event(outgoing, prepare)
    assert outgoing.prepared is not None
    for channel in channels:
        await middleware.batch(OutgoingBatch(channel, [outgoing.prepared]), send)
    assert not middleware._uploads  # every upload was waited for once per destination
    return outgoing, middleware._aws.s3.objects  # type: ignore[attr-defined]


def _middleware(threshold: int | None = None) -> ClaimCheck:
    return ClaimCheck(Aws(), "dev-shop-payloads", threshold=threshold, max_size=2 * MIB)  # type: ignore[arg-type]


async def test_a_small_event_is_sent_as_it_is() -> None:
    outgoing, stored = await _publish_step(_middleware(), Blob(key="k", data="x" * 1000))
    assert stored == {}
    assert outgoing.prepared is not None
    assert decode(outgoing.prepared.body).envelope.data["data"] == "x" * 1000


async def test_an_event_over_the_topics_limit_travels_as_a_pointer() -> None:
    event = Blob(key="k", data="y" * 300 * KIB)
    outgoing, stored = await _publish_step(_middleware(), event)
    prepared = outgoing.prepared
    assert prepared is not None
    assert Pointer("dev-shop-payloads", prepared.id).body() == prepared.body
    body = stored[("dev-shop-payloads", prepared.id)]
    assert decode(body).envelope.data == event.model_dump()
    size = prepared.attributes[SIZE_ATTRIBUTE]
    assert size == {"DataType": "Number", "StringValue": str(len(body))}
    assert prepared.attributes["event_type"]["StringValue"] == "Blob"
    assert prepared.body_bytes == len(prepared.body.encode())
    assert prepared.body_bytes + prepared.attributes_bytes < 1 * KIB


async def test_the_threshold_offloads_smaller_events() -> None:
    event = Blob(key="k", data="z" * 50 * KIB)
    _, stored = await _publish_step(_middleware(threshold=40 * KIB), event)
    assert len(stored) == 1
    _, stored = await _publish_step(_middleware(threshold=60 * KIB), event)
    assert stored == {}


async def test_an_event_to_an_eventbridge_bus_is_never_a_pointer() -> None:
    event = DirectBlob(key="k", data="y" * 300 * KIB)
    with pytest.raises(MessageTooLargeError) as info:
        await _publish_step(_middleware(threshold=1), event)
    assert "EventBridge carries no claim-check pointer" in "\n".join(info.value.__notes__)


async def test_an_event_over_max_size_is_refused() -> None:
    with pytest.raises(MessageTooLargeError, match=r"claim_check\.max_size"):
        await _publish_step(_middleware(), Blob(key="k", data="y" * 3 * MIB))


# -- the consume step -----------------------------------------------------------------------------


class MissingS3:
    async def get_object(self, **_: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")


async def test_a_pointer_to_a_missing_object_is_a_claim_check_error() -> None:
    class Gone:
        s3 = MissingS3()

    reader = ClaimReader(Gone())  # type: ignore[arg-type]
    with pytest.raises(ClaimCheckError) as info:
        await reader.decode(Pointer("b-1", "k").body(), {}, "m-1")
    assert info.value.reason == "claim-check-missing"
    assert "s3://b-1/k is gone (NoSuchKey)" in str(info.value)
    assert info.value.message_id == "m-1"


class ScriptedS3:
    """Answers GetObject with an object of ``size`` bytes, or fails with ``code``."""

    def __init__(self, *, size: int = 0, code: str | None = None) -> None:
        self.size, self.code, self.read = size, code, False

    async def get_object(self, **_: Any) -> Any:
        from botocore.exceptions import ClientError

        if self.code is not None:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "GetObject")
        return {"ContentLength": self.size, "Body": self}

    def close(self) -> None:
        pass

    async def __aenter__(self) -> ScriptedS3:
        self.read = True
        return self

    async def __aexit__(self, *_: object) -> None:
        pass


async def test_a_payload_over_max_size_is_refused_without_reading_it() -> None:
    class Big:
        s3 = ScriptedS3(size=2 * MIB)

    with pytest.raises(ClaimCheckError) as info:
        await ClaimReader(Big(), max_bytes=MIB).decode(Pointer("b-1", "k").body(), {}, "m-1")  # type: ignore[arg-type]
    assert info.value.reason == "claim-check-too-large"
    assert "2,097,152 bytes" in str(info.value)
    assert not Big.s3.read


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "AccessDenied"])
async def test_other_s3_failures_stay_aws_errors_for_a_later_redelivery(code: str) -> None:
    from bus.errors import AwsError

    class Failing:
        s3 = ScriptedS3(code=code)

    with pytest.raises(AwsError) as info:
        await ClaimReader(Failing()).decode(Pointer("b-1", "k").body(), {}, "m-1")  # type: ignore[arg-type]
    assert not isinstance(info.value, ClaimCheckError)
    assert info.value.code == code


async def test_a_failed_upload_fails_its_batch_with_s3s_error() -> None:
    from bus.errors import AwsError

    class FailingS3:
        async def put_object(self, **_: Any) -> None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "SlowDown", "Message": "no"}}, "PutObject")

    class Failing:
        s3 = FailingS3()

    middleware = ClaimCheck(Failing(), "dev-shop-payloads", max_size=2 * MIB)  # type: ignore[arg-type]
    event = Blob(key="k", data="y" * 300 * KIB)
    spec = REGISTRY.event_type_of(event)
    channels = tuple(channel_of(d, TOPOLOGY) for d in spec.destinations)
    route = EventRoute.of(spec, channels)

    async def prepare(outgoing: Outgoing) -> None:
        outgoing.prepared = prepare_routed(0, route, event, FlowContext(), check_size=False)

    async def send(batch: OutgoingBatch) -> None:
        raise AssertionError("a pointer without its object was sent")

    outgoing = Outgoing(event, 0)
    await middleware.event(outgoing, prepare)
    assert outgoing.prepared is not None
    with pytest.raises(AwsError) as info:
        await middleware.batch(OutgoingBatch(channels[0], [outgoing.prepared]), send)
    assert info.value.code == "SlowDown"
