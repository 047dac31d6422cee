"""The claim check's bucket against AWS: read it back (``observe_buckets``) and write it
(``create_bucket``, ``update_bucket``, ``delete_bucket``), for ``bus.topology.observe`` and ``apply``.

A bucket is looked up with ``HeadBucket`` (``403``: the name is taken by another account: S3 names
are global); its encryption, public access block, lifecycle rule and tags are read with their own
``Get*`` calls, each of which answers a "not configured" code when unset. When pruning, every
bucket whose name starts with the environment prefix is read too (``ListBuckets``), and those
carrying this topology's ownership tags count as owned. Deleting a bucket deletes its objects
first (S3 refuses to delete a bucket that holds any): the payloads of messages still in flight
are then lost, as a deleted queue's messages are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bus.errors import AwsError, BusError
from bus.topology.claims import EXPIRY_RULE
from bus.topology.resolve import Resource, dumps

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

    from bus.topology.apply import Applier
    from bus.topology.observe import Observer
    from bus.topology.plan import Update

MISSING_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
NO_ENCRYPTION = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})
NO_PUBLIC_ACCESS_BLOCK = frozenset({"NoSuchPublicAccessBlockConfiguration"})
NO_LIFECYCLE = frozenset({"NoSuchLifecycleConfiguration"})
NO_TAGS = frozenset({"NoSuchTagSet"})
DELETE_BATCH = 1000
"""``DeleteObjects`` takes at most 1,000 keys."""
US_EAST_1 = "us-east-1"
"""The one region where ``CreateBucket`` takes no ``LocationConstraint``."""


# -- observe --------------------------------------------------------------------------------------


async def observe_buckets(observer: Observer, names: Sequence[str]) -> list[Resource]:
    """The buckets named ``names`` that exist, and (when pruning) the environment's owned ones."""
    s3 = _s3_of(observer.aws)
    if s3 is None:
        return []
    found = [n for n, ok in zip(names, await _heads(observer, names), strict=True) if ok]
    read = list(await asyncio.gather(*(_read(observer, name) for name in found)))
    if observer.scope.prune:
        others = [n for n in await _listed(observer, s3) if n not in found]
        tags = await asyncio.gather(*(_tags_or_none(observer, n) for n in others))
        owned = [n for n, t in zip(others, tags, strict=True) if observer.scope.owns(t)]
        read += await asyncio.gather(*(_read(observer, name) for name in owned))
    return read


def _s3_of(aws: Any) -> S3Client | None:
    """The S3 client; None for an ``AwsClients`` that has none."""
    try:
        client: S3Client = aws.s3
    except (AttributeError, BusError):
        return None
    return client


async def _listed(observer: Observer, s3: S3Client) -> list[str]:
    """Bucket names with the environment's prefix (``ListBuckets``, this region's when S3 says)."""
    prefix, kwargs = observer.scope.prefix, {"BucketRegion": observer.aws.region}
    if prefix:
        kwargs["Prefix"] = prefix
    names: list[str] = []
    while True:
        page = await observer.must("ListBuckets", s3.list_buckets, **kwargs)
        names += [str(b["Name"]) for b in page.get("Buckets", [])]
        token = page.get("ContinuationToken")
        if not token:
            return [n for n in names if n.startswith(prefix)]
        kwargs["ContinuationToken"] = token


async def _tags_or_none(observer: Observer, name: str) -> dict[str, str] | None:
    """A listed bucket's tags; None when it has none, or cannot be read (another region's, or one
    this account may not read: not this topology's)."""
    try:
        got = await observer.call("GetBucketTagging", observer.aws.s3.get_bucket_tagging,
                                  NO_TAGS | MISSING_BUCKET, Bucket=name)  # fmt: skip
    except AwsError:
        return None
    return {t["Key"]: t["Value"] for t in got["TagSet"]} if got else None


async def _heads(observer: Observer, names: Sequence[str]) -> list[bool]:
    async def head(name: str) -> bool:
        try:
            got = await observer.call("HeadBucket", observer.aws.s3.head_bucket, MISSING_BUCKET,
                                      Bucket=name)  # fmt: skip
        except AwsError as exc:
            if exc.code in ("403", "AccessDenied", "Forbidden"):
                raise AwsError(
                    f"S3 bucket {name!r} exists and this account may not use it (bucket names "
                    "are global across AWS): choose another claim_check.bucket",
                    code=exc.code,
                    operation="HeadBucket",
                ) from exc
            raise
        return got is not None

    return list(await asyncio.gather(*(head(n) for n in names)))


async def _read(observer: Observer, name: str) -> Resource:
    s3 = observer.aws.s3
    encryption, block, lifecycle, tagging = await asyncio.gather(
        observer.call("GetBucketEncryption", s3.get_bucket_encryption, NO_ENCRYPTION, Bucket=name),
        observer.call("GetPublicAccessBlock", s3.get_public_access_block,
                      NO_PUBLIC_ACCESS_BLOCK, Bucket=name),
        observer.call("GetBucketLifecycleConfiguration", s3.get_bucket_lifecycle_configuration,
                      NO_LIFECYCLE, Bucket=name),
        observer.call("GetBucketTagging", s3.get_bucket_tagging, NO_TAGS, Bucket=name),
    )  # fmt: skip
    tags = {t["Key"]: t["Value"] for t in (tagging["TagSet"] if tagging else [])}
    attributes = {
        "Encryption": _algorithm(encryption),
        "PublicAccessBlock": dumps(block["PublicAccessBlockConfiguration"]) if block else "",
        "ExpireAfterDays": _expiry(lifecycle),
    }
    return Resource(kind="bucket", name=name, attributes=attributes, tags=tags,
                    ref={"arn": f"arn:aws:s3:::{name}"}, owned=observer.scope.owns(tags))  # fmt: skip


def _algorithm(answer: Any) -> str:
    rules = (answer or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    for rule in rules:
        algorithm = rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
        if algorithm:
            return str(algorithm)
    return ""


def _expiry(answer: Any) -> str:
    for rule in (answer or {}).get("Rules", []):
        if rule.get("ID") == EXPIRY_RULE and rule.get("Status") == "Enabled":
            return str(rule.get("Expiration", {}).get("Days", ""))
    return ""


# -- apply ----------------------------------------------------------------------------------------


async def create_bucket(applier: Applier, r: Resource) -> None:
    """``CreateBucket``, then every attribute and the tags."""
    kwargs: dict[str, Any] = {"Bucket": r.name}
    region = r.ref.get("region", US_EAST_1)
    if region != US_EAST_1:
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    await applier.call("CreateBucket", applier.aws.s3.create_bucket, **kwargs)
    for attribute in r.attributes:
        await _put(applier, r, attribute)
    await _put_tags(applier, r)


async def update_bucket(applier: Applier, updates: Sequence[Update]) -> None:
    """Write each changed attribute again; the whole tag set when a tag changed."""
    r = updates[0].resource
    for attribute in dict.fromkeys(u.attribute for u in updates if not u.is_tag):
        await _put(applier, r, attribute)
    if any(u.is_tag for u in updates):
        await _put_tags(applier, r)


async def _put(applier: Applier, r: Resource, attribute: str) -> None:
    s3, value = applier.aws.s3, r.attributes[attribute]
    if attribute == "Encryption":
        default = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": value}}
        await applier.call("PutBucketEncryption", s3.put_bucket_encryption, Bucket=r.name,
                           ServerSideEncryptionConfiguration={"Rules": [default]})  # fmt: skip
    elif attribute == "PublicAccessBlock":
        await applier.call("PutPublicAccessBlock", s3.put_public_access_block, Bucket=r.name,
                           PublicAccessBlockConfiguration=json.loads(value))  # fmt: skip
    elif attribute == "ExpireAfterDays":
        expiry: dict[str, Any] = {
            "ID": EXPIRY_RULE,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": int(value)},
        }
        await applier.call("PutBucketLifecycleConfiguration",
                           s3.put_bucket_lifecycle_configuration, Bucket=r.name,
                           LifecycleConfiguration={"Rules": [expiry]})  # fmt: skip


async def _put_tags(applier: Applier, r: Resource) -> None:
    """``PutBucketTagging`` replaces the whole set: the desired tags."""
    tags = [{"Key": k, "Value": v} for k, v in sorted((r.tags or {}).items())]
    await applier.call("PutBucketTagging", applier.aws.s3.put_bucket_tagging, Bucket=r.name,
                       Tagging={"TagSet": tags})  # fmt: skip


async def delete_bucket(applier: Applier, r: Resource) -> None:
    """Delete the bucket's objects (a page at a time), then the bucket."""
    s3 = applier.aws.s3
    while True:
        page = await applier.call("ListObjectsV2", s3.list_objects_v2, MISSING_BUCKET,
                                  Bucket=r.name, MaxKeys=DELETE_BATCH)  # fmt: skip
        keys = [{"Key": o["Key"]} for o in (page.get("Contents", []) if page else [])]
        if not keys:
            break
        await applier.call("DeleteObjects", s3.delete_objects, MISSING_BUCKET, Bucket=r.name,
                           Delete={"Objects": keys, "Quiet": True})  # fmt: skip
    await applier.call("DeleteBucket", s3.delete_bucket, MISSING_BUCKET, Bucket=r.name)
