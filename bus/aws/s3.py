"""S3 objects as the claim check stores them: put a payload, read one back within a size limit.

Functions take the client (``aws.s3``) at aiobotocore's method level. A missing object or bucket is
an ``AwsError`` whose code is in ``MISSING_OBJECT``; an object larger than the reader allows is one
with code ``PAYLOAD_TOO_LARGE`` (read no further than its ``ContentLength``: memory stays bounded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.aws.errors import aws_errors
from bus.errors import AwsError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MISSING_OBJECT = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
"""What S3 answers for an object (or bucket) that is not there (``404`` for HEAD requests)."""
PAYLOAD_TOO_LARGE = "PayloadTooLarge"


async def put_payload(s3: S3Client, bucket: str, key: str, body: bytes) -> None:
    """Store ``body`` as object ``key`` of ``bucket`` (the bucket's default encryption applies)."""
    with aws_errors("PutObject"):
        await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


async def get_payload(s3: S3Client, bucket: str, key: str, max_bytes: int) -> bytes:
    """The bytes of object ``key`` of ``bucket``; ``AwsError`` (``PAYLOAD_TOO_LARGE``) without
    reading it when it is over ``max_bytes``."""
    with aws_errors("GetObject"):
        answer = await s3.get_object(Bucket=bucket, Key=key)
        body = answer["Body"]
        size = int(answer.get("ContentLength", 0))
        if size > max_bytes:
            body.close()
            raise AwsError(
                f"GetObject s3://{bucket}/{key}: the object is {size:,} bytes; bus reads at most "
                f"{max_bytes:,} (claim_check.max_size)",
                code=PAYLOAD_TOO_LARGE,
                operation="GetObject",
            )
        async with body as stream:
            data: bytes = await stream.read()
    return data
