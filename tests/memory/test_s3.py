"""The in-memory S3: the claim check end to end on ``bus.memory`` (a large event fanned out to three
queues, every handler gets the whole payload from the bucket ``converge`` made; the next plan is
empty), and the same script of S3 calls answered alike by the in-memory S3 and LocalStack's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus.aws import AwsClients
from bus.aws.limits import KIB
from bus.memory import MemoryAws, open_harness
from bus.topology.apply import make_plan
from bus.topology.model import physical_name
from tests.claimcheck import apps
from tests.claimcheck.test_flow_aws import TOPOLOGY

Step = tuple[str, Callable[[], Awaitable[Any]], Callable[[Any], Any]]


async def test_a_claim_checked_event_reaches_every_subscriber_whole_in_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    async with open_harness(path, base_dir=Path.cwd()) as shop:
        assert not (await make_plan(shop.aws, shop.topology, shop.env)).changes
        bucket = shop.aws.memory_s3.buckets[physical_name("payloads", shop.env)]
        assert bucket.encryption is not None
        assert bucket.lifecycle is not None
        data = "x" * (300 * KIB)
        await shop.publish(apps.Blob(key="big-in-memory", data=data))
        assert len(bucket.objects) == 1  # one payload for the three subscriptions
        assert len(shop.messages("a")[0]["Body"]) < 4 * KIB  # the queue holds the pointer only
        stats = await shop.run_until_idle()
    seen = apps.seen("big-in-memory")
    assert sorted(seen) == ["a", "b", "c"]
    assert {s.digest for s in seen.values()} == {apps.digest(data)}
    assert sum(stats.queue(q).processed for q in ("a", "b", "c")) == 3


def _code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def script(s3: Any, name: str) -> list[Step]:
    """S3 calls in order, each with what of its answer is compared."""

    def keys(answer: Any) -> Any:
        listed = [o["Key"] for o in answer.get("Contents", [])]
        return listed, answer["KeyCount"], answer["IsTruncated"]

    async def read(key: str) -> Any:
        answer = await s3.get_object(Bucket=name, Key=key)
        async with answer["Body"] as stream:
            return answer["ContentLength"], answer["ETag"], await stream.read()

    def same(answer: Any) -> Any:
        return answer

    def nothing(answer: Any) -> Any:
        return None

    put = [
        (f"put {k}", lambda k=k: s3.put_object(Bucket=name, Key=k, Body=f"payload {k}"), nothing)
        for k in ("p/1", "p/2", "p/3", "q/1")
    ]
    algorithm = "ServerSideEncryptionConfiguration"
    return [
        ("head missing", lambda: s3.head_bucket(Bucket=name), nothing),
        ("create", lambda: s3.create_bucket(Bucket=name), nothing),
        ("head", lambda: s3.head_bucket(Bucket=name), nothing),
        ("default encryption", lambda: s3.get_bucket_encryption(Bucket=name),
         lambda a: a[algorithm]["Rules"][0]["ApplyServerSideEncryptionByDefault"]),
        ("block", lambda: s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration={"BlockPublicAcls": True}), nothing),
        ("block replaced whole", lambda: s3.get_public_access_block(Bucket=name),
         lambda a: a["PublicAccessBlockConfiguration"]),
        ("no lifecycle", lambda: s3.get_bucket_lifecycle_configuration(Bucket=name), nothing),
        ("no tags", lambda: s3.get_bucket_tagging(Bucket=name), nothing),
        ("tag", lambda: s3.put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": "bus:topology", "Value": "t"}]}), nothing),
        ("tags", lambda: s3.get_bucket_tagging(Bucket=name), lambda a: a["TagSet"]),
        *put,
        ("get", lambda: read("p/2"), same),
        ("get missing key", lambda: s3.get_object(Bucket=name, Key="p/9"), nothing),
        ("head missing key", lambda: s3.head_object(Bucket=name, Key="p/9"), nothing),
        ("list prefix page", lambda: s3.list_objects_v2(Bucket=name, Prefix="p/", MaxKeys=2), keys),
        ("list after", lambda: s3.list_objects_v2(Bucket=name, StartAfter="p/2"), keys),
        ("delete non-empty bucket", lambda: s3.delete_bucket(Bucket=name), nothing),
        ("delete objects", lambda: s3.delete_objects(
            Bucket=name, Delete={"Objects": [{"Key": "p/1"}, {"Key": "p/2"}]}),
         lambda a: sorted(d["Key"] for d in a["Deleted"])),
        ("delete missing object", lambda: s3.delete_object(Bucket=name, Key="nope"), nothing),
        ("quiet delete", lambda: s3.delete_objects(
            Bucket=name, Delete={"Objects": [{"Key": "p/3"}, {"Key": "q/1"}], "Quiet": True}),
         lambda a: a.get("Deleted", [])),
        ("list empty", lambda: s3.list_objects_v2(Bucket=name), keys),
        ("delete bucket", lambda: s3.delete_bucket(Bucket=name), nothing),
        ("get from missing bucket", lambda: s3.get_object(Bucket=name, Key="p/1"), nothing),
    ]  # fmt: skip


async def run(s3: Any, name: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for label, call, keep in script(s3, name):
        try:
            out.append((label, keep(await call())))
        except ClientError as exc:
            out.append((label, f"error {_code(exc)}"))
    return out


@pytest.mark.aws
async def test_the_in_memory_s3_answers_as_the_emulator_does(aws: AwsClients, bus_env: str) -> None:
    name = f"{bus_env}-memory-s3"
    expected = await run(aws.s3, name)
    async with MemoryAws() as memory:
        got = await run(memory.s3, name)
    assert got == expected
    assert dict(got)["get missing key"] == "error NoSuchKey"
    assert dict(got)["delete non-empty bucket"] == "error BucketNotEmpty"
    assert dict(got)["list prefix page"] == (["p/1", "p/2"], 2, True)


async def test_a_bucket_outside_us_east_1_needs_its_region_as_location_constraint() -> None:
    async with MemoryAws(region="eu-west-1") as aws:
        with pytest.raises(ClientError) as refused:
            await aws.s3.create_bucket(Bucket="no-constraint")
        assert _code(refused.value) == "IllegalLocationConstraintException"
        where = {"LocationConstraint": "eu-west-1"}
        await aws.s3.create_bucket(Bucket="with-constraint", CreateBucketConfiguration=where)
        with pytest.raises(ClientError) as again:
            await aws.s3.create_bucket(Bucket="with-constraint", CreateBucketConfiguration=where)
        assert _code(again.value) == "BucketAlreadyOwnedByYou"
        with pytest.raises(ClientError) as invalid:
            await aws.s3.create_bucket(Bucket="Not_A_Bucket", CreateBucketConfiguration=where)
        assert _code(invalid.value) == "InvalidBucketName"
        listed = await aws.s3.list_buckets(BucketRegion="eu-west-1")
        assert [b["Name"] for b in listed["Buckets"]] == ["with-constraint"]
