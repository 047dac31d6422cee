"""The consume side of the claim check: decode a received message, fetching a pointer's payload.

The worker's decode step (and so the Lambda entry point, which reuses it) calls
``ClaimReader.decode`` instead of ``bus.envelope.decode``: an ordinary message decodes as before;
a pointer (bus's, or any AWS extended client's) is replaced by the object it names, read from S3
within ``max_bytes``, and decoded with the message's other attributes. The object is never
deleted: every subscriber of a fan-out reads the same one, and the bucket's lifecycle rule expires
it. The message itself keeps its pointer, so a dead-letter copy or a redrive carries the pointer.

A pointer whose object (or bucket) is gone, or whose object is over ``max_bytes``, is a
``ClaimCheckError`` (the worker dead-letters it at once, reason ``claim-check-missing`` or
``claim-check-too-large``); any other S3 failure is an ``AwsError`` (a transient one: the worker
redelivers the message later, and SQS's redrive policy bounds the attempts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bus.aws.s3 import MISSING_OBJECT, PAYLOAD_TOO_LARGE, get_payload
from bus.claimcheck.pointer import Found, Pointer, find_pointer
from bus.envelope import Decoded, decode
from bus.errors import AwsError, ClaimCheckError, DecodeError
from bus.topology.claim_model import DEFAULT_MAX_SIZE
from bus.topology.model import Topology

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MISSING = "claim-check-missing"
TOO_LARGE = "claim-check-too-large"


class HasS3(Protocol):
    """What holds the S3 client (``AwsClients``); read only when a pointer arrives."""

    @property
    def s3(self) -> S3Client: ...


class ClaimReader:
    """Decodes received messages, claim-checked ones included."""

    def __init__(self, aws: HasS3, max_bytes: int = DEFAULT_MAX_SIZE) -> None:
        self._aws = aws
        self.max_bytes = max_bytes

    async def decode(
        self, body: str, attributes: Mapping[str, Any], message_id: str | None
    ) -> Decoded:
        """``bus.envelope.decode`` of the message, or of the payload its pointer names."""
        found = find_pointer(body, attributes, message_id)
        if found is None:
            return decode(body, attributes, message_id=message_id)
        return await self.decode_found(found, message_id)

    async def decode_found(self, found: Found, message_id: str | None) -> Decoded:
        """The payload of a pointer ``find_pointer`` found, fetched and decoded (the worker finds
        pointers itself, so that an ordinary message decodes without an await)."""
        payload = await self.fetch(found.pointer, message_id)
        return decode_payload(found, payload, message_id, self.max_bytes)

    async def fetch(self, pointer: Pointer, message_id: str | None) -> bytes:
        """The payload ``pointer`` names; ``ClaimCheckError`` when it is gone or too large."""
        try:
            return await get_payload(self._aws.s3, pointer.bucket, pointer.key, self.max_bytes)
        except AwsError as exc:
            if exc.code in MISSING_OBJECT:
                raise ClaimCheckError(
                    f"claim check: {pointer} is gone ({exc.code}): expired (the bucket's "
                    "lifecycle rule) or deleted before the message was handled",
                    reason=MISSING,
                    message_id=message_id,
                ) from exc
            if exc.code == PAYLOAD_TOO_LARGE:
                raise ClaimCheckError(str(exc), reason=TOO_LARGE, message_id=message_id) from exc
            raise


def claim_reader(aws: HasS3, topology: Topology) -> ClaimReader:
    """The reader of a worker of ``topology``: every consumer reads pointers (other producers may
    send them); ``claim_check.max_size``, when declared, bounds what it fetches."""
    section = topology.claim_check
    return ClaimReader(aws, section.max_size if section else DEFAULT_MAX_SIZE)


def decode_payload(found: Found, payload: bytes, message_id: str | None, max_bytes: int) -> Decoded:
    """Decode a fetched payload with the pointer message's attributes; the text of a
    ``DecodeError`` says the body came from S3."""
    try:
        decoded = decode(payload, found.attributes, message_id=message_id, max_bytes=max_bytes)
    except DecodeError as exc:
        raise DecodeError(
            f"claim-checked payload {found.pointer}: {exc.detail}", message_id=message_id
        ) from exc
    if found.route == "sns" and decoded.route == "sqs":
        decoded = dataclasses.replace(decoded, route="sns")
    return decoded
