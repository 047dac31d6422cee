"""In-memory S3: what bus asks of it, for the claim check's payloads and its bucket.

Objects: ``PutObject``, ``GetObject`` (a ``Body`` read as aiobotocore's streaming body is:
``async with body as stream: await stream.read()``), ``HeadObject``, ``DeleteObject``,
``DeleteObjects``, ``ListObjectsV2``. Buckets as ``bus apply`` manages the claim check's:
``CreateBucket``, ``HeadBucket``, ``ListBuckets``, ``DeleteBucket`` and the encryption, public
access block, lifecycle and tagging configurations (``Get``/``Put``; ``Delete`` for tags).

As S3 does today: a new bucket has SSE-S3 (``AES256``) default encryption and all four public
access blocks on; a bucket without tags, a lifecycle configuration or (after it was removed) an
access block answers ``NoSuchTagSet``, ``NoSuchLifecycleConfiguration``,
``NoSuchPublicAccessBlockConfiguration``; a missing bucket is ``NoSuchBucket`` (``404`` to a
``HEAD``), a missing key ``NoSuchKey``; a bucket holding objects cannot be deleted
(``BucketNotEmpty``); outside ``us-east-1`` a bucket needs its region as ``LocationConstraint``.
Not modelled: versioning, multipart uploads, object tags and ACLs, policies, expiry by the lifecycle
rule (it is stored, never run), and the bucket namespace shared by every account.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bus.memory.errors import client_error, ok
from bus.memory.world import World

T = TypeVar("T")
US_EAST_1 = "us-east-1"
_NAME = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEYS = 1000
_DEFAULT_ENCRYPTION = {
    "Rules": [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]
}
_DEFAULT_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass
class StoredObject:
    body: bytes
    content_type: str
    modified: datetime

    @property
    def etag(self) -> str:
        return f'"{hashlib.md5(self.body, usedforsecurity=False).hexdigest()}"'


@dataclass
class StoredBucket:
    region: str
    created: datetime
    objects: dict[str, StoredObject] = field(default_factory=dict)
    encryption: dict[str, Any] | None = field(default_factory=lambda: dict(_DEFAULT_ENCRYPTION))
    public_access_block: dict[str, Any] | None = field(default_factory=lambda: dict(_DEFAULT_BLOCK))
    lifecycle: dict[str, Any] | None = None
    tags: list[dict[str, str]] | None = None


def _bytes(body: Any) -> bytes:
    """A ``PutObject`` body as bytes: ``bytes``, ``str`` (UTF-8) or a readable file object."""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return bytes(body.read())


def _configured(operation: str, found: T | None, missing: str) -> T:
    """``found``, or S3's "not configured" answer (404, ``missing``) when it is ``None``."""
    if found is None:
        raise client_error(operation, missing, f"{missing}: not configured", status=404)
    return found


class StreamingBody:
    """The ``Body`` of a ``GetObject`` answer, read as aiobotocore's is."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at, self.closed = data, 0, False

    async def read(self, amt: int | None = None) -> bytes:
        end = len(self._data) if amt is None else min(len(self._data), self._at + amt)
        chunk, self._at = self._data[self._at : end], end
        return chunk

    def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> StreamingBody:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class MemoryS3:
    def __init__(self, world: World) -> None:
        self.world = world
        self.buckets: dict[str, StoredBucket] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(int(self.world.clock.epoch()), UTC)

    def _bucket(self, operation: str, name: str) -> StoredBucket:
        bucket = self.buckets.get(name)
        if bucket is None:
            if operation in ("HeadBucket", "HeadObject"):
                raise client_error(operation, "404", "Not Found", status=404)
            raise client_error(
                operation, "NoSuchBucket", "The specified bucket does not exist", status=404
            )
        return bucket

    # -- buckets ----------------------------------------------------------------------------------

    async def create_bucket(self, *, Bucket: str, **request: Any) -> dict[str, Any]:
        name = Bucket
        if not _NAME.match(name) or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
            raise client_error(
                "CreateBucket", "InvalidBucketName", "The specified bucket is not valid."
            )
        constraint = (request.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        region = constraint or US_EAST_1
        if constraint == US_EAST_1:
            raise client_error(
                "CreateBucket",
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
            )
        if region != self.world.region:
            raise client_error(
                "CreateBucket",
                "IllegalLocationConstraintException",
                f"The {constraint or 'unspecified'} location constraint is "
                f"incompatible for the region specific endpoint this request "
                f"was sent to.",
            )
        if name in self.buckets:
            if region == US_EAST_1:  # S3's legacy answer there: 200, nothing changes
                return ok(Location=f"/{name}")
            raise client_error(
                "CreateBucket",
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and "
                "you already own it.",
                status=409,
            )
        self.buckets[name] = StoredBucket(region=region, created=self._now())
        return ok(Location=f"/{name}")

    async def head_bucket(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        bucket = self._bucket("HeadBucket", Bucket)
        return ok(BucketRegion=bucket.region)

    async def list_buckets(self, **request: Any) -> dict[str, Any]:
        prefix, region = request.get("Prefix", ""), request.get("BucketRegion")
        names = [
            n
            for n, b in sorted(self.buckets.items())
            if n.startswith(prefix) and region in (None, b.region)
        ]
        token = request.get("ContinuationToken")
        if token:
            names = [n for n in names if n > token]
        limit = int(request.get("MaxBuckets", 10000))
        page, more = names[:limit], len(names) > limit
        buckets = [
            {
                "Name": n,
                "CreationDate": self.buckets[n].created,
                "BucketRegion": self.buckets[n].region,
            }
            for n in page
        ]
        extra = {"ContinuationToken": page[-1]} if more else {}
        owner = {"ID": self.world.account_id}
        return ok(Buckets=buckets, Owner=owner, **({"Prefix": prefix} if prefix else {}), **extra)

    async def delete_bucket(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        if self._bucket("DeleteBucket", Bucket).objects:
            raise client_error(
                "DeleteBucket",
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
                status=409,
            )
        del self.buckets[Bucket]
        return ok()

    async def get_bucket_encryption(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        found = self._bucket("GetBucketEncryption", Bucket).encryption
        _configured("GetBucketEncryption", found, "ServerSideEncryptionConfigurationNotFoundError")
        return ok(ServerSideEncryptionConfiguration=found)

    async def put_bucket_encryption(self, *, Bucket: str, **request: Any) -> dict[str, Any]:
        bucket = self._bucket("PutBucketEncryption", Bucket)
        bucket.encryption = request["ServerSideEncryptionConfiguration"]
        return ok()

    async def get_public_access_block(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        found = self._bucket("GetPublicAccessBlock", Bucket).public_access_block
        _configured("GetPublicAccessBlock", found, "NoSuchPublicAccessBlockConfiguration")
        return ok(PublicAccessBlockConfiguration=found)

    async def put_public_access_block(self, *, Bucket: str, **request: Any) -> dict[str, Any]:
        block = {
            key: bool(value) for key, value in request["PublicAccessBlockConfiguration"].items()
        }
        unset = dict.fromkeys(_DEFAULT_BLOCK, False)  # the call replaces the whole block
        self._bucket("PutPublicAccessBlock", Bucket).public_access_block = {**unset, **block}
        return ok()

    async def delete_public_access_block(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        self._bucket("DeletePublicAccessBlock", Bucket).public_access_block = None
        return ok()

    async def get_bucket_lifecycle_configuration(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        found = self._bucket("GetBucketLifecycleConfiguration", Bucket).lifecycle
        found = _configured(
            "GetBucketLifecycleConfiguration", found, "NoSuchLifecycleConfiguration"
        )
        return ok(Rules=found["Rules"])

    async def put_bucket_lifecycle_configuration(
        self, *, Bucket: str, **request: Any
    ) -> dict[str, Any]:
        self._bucket("PutBucketLifecycleConfiguration", Bucket).lifecycle = request[
            "LifecycleConfiguration"
        ]
        return ok()

    async def get_bucket_tagging(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        tags = self._bucket("GetBucketTagging", Bucket).tags
        tags = _configured("GetBucketTagging", tags, "NoSuchTagSet")
        return ok(TagSet=[dict(t) for t in tags])

    async def put_bucket_tagging(
        self, *, Bucket: str, Tagging: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        tags = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in Tagging["TagSet"]]
        if len({t["Key"] for t in tags}) != len(tags):
            raise client_error(
                "PutBucketTagging", "InvalidTag", "Cannot provide multiple Tags with the same key"
            )
        self._bucket("PutBucketTagging", Bucket).tags = tags
        return ok()

    async def delete_bucket_tagging(self, *, Bucket: str, **_: Any) -> dict[str, Any]:
        self._bucket("DeleteBucketTagging", Bucket).tags = None
        return ok()

    # -- objects ----------------------------------------------------------------------------------

    async def put_object(
        self, *, Bucket: str, Key: str, Body: Any = b"", **request: Any
    ) -> dict[str, Any]:
        bucket = self._bucket("PutObject", Bucket)
        data = _bytes(Body)
        stored = StoredObject(
            data, str(request.get("ContentType", "binary/octet-stream")), self._now()
        )
        bucket.objects[Key] = stored
        return ok(ETag=stored.etag, ServerSideEncryption="AES256")

    def _object(self, operation: str, bucket_name: str, key: str) -> StoredObject:
        stored = self._bucket(operation, bucket_name).objects.get(key)
        if stored is None:
            if operation == "HeadObject":
                raise client_error(operation, "404", "Not Found", status=404)
            raise client_error(
                operation, "NoSuchKey", "The specified key does not exist.", status=404
            )
        return stored

    def _head(self, stored: StoredObject) -> dict[str, Any]:
        return {
            "ContentLength": len(stored.body),
            "ContentType": stored.content_type,
            "ETag": stored.etag,
            "LastModified": stored.modified,
            "ServerSideEncryption": "AES256",
        }

    async def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        stored = self._object("GetObject", Bucket, Key)
        return ok(Body=StreamingBody(stored.body), **self._head(stored))

    async def head_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        return ok(**self._head(self._object("HeadObject", Bucket, Key)))

    async def delete_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self._bucket("DeleteObject", Bucket).objects.pop(Key, None)
        return ok()

    async def delete_objects(
        self, *, Bucket: str, Delete: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        bucket = self._bucket("DeleteObjects", Bucket)
        keys = [str(o["Key"]) for o in Delete.get("Objects", [])]
        if not 1 <= len(keys) <= _MAX_KEYS:
            raise client_error(
                "DeleteObjects",
                "MalformedXML",
                "The XML you provided was not "
                "well-formed or did not validate against our published schema",
            )
        for key in keys:
            bucket.objects.pop(key, None)
        return ok() if Delete.get("Quiet") else ok(Deleted=[{"Key": k} for k in keys])

    async def list_objects_v2(self, *, Bucket: str, **request: Any) -> dict[str, Any]:
        bucket = self._bucket("ListObjectsV2", Bucket)
        prefix, limit = request.get("Prefix", ""), int(request.get("MaxKeys", _MAX_KEYS))
        after = request.get("ContinuationToken") or request.get("StartAfter") or ""
        keys = sorted(k for k in bucket.objects if k.startswith(prefix) and k > after)
        page, more = keys[: min(limit, _MAX_KEYS)], len(keys) > min(limit, _MAX_KEYS)
        contents = [
            {
                "Key": k,
                "Size": len(bucket.objects[k].body),
                "ETag": bucket.objects[k].etag,
                "LastModified": bucket.objects[k].modified,
                "StorageClass": "STANDARD",
            }
            for k in page
        ]
        answer: dict[str, Any] = {
            "Name": Bucket,
            "Prefix": prefix,
            "MaxKeys": limit,
            "KeyCount": len(page),
            "IsTruncated": more,
        }
        if contents:
            answer["Contents"] = contents
        if more:
            answer["NextContinuationToken"] = page[-1]
        return ok(**answer)
