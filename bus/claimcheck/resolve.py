"""The consume side of the claim check: decode a received message, fetching a pointer's payload.

The worker's decode step (and so the Lambda entry point, which reuses it) calls
``ClaimReader.decode`` instead of ``bus.envelope.decode``: an ordinary message decodes as before;
a pointer (bus's, or any AWS extended client's) is replaced by the object it names, read from S3
within ``max_bytes``, and decoded with the message's other attributes. The object is never
deleted: every subscriber of a fan-out reads the same one, and the bucket's lifecycle rule expires
it. The message itself keeps its pointer, so a dead-letter copy or a redrive carries the pointer.

A consumer follows pointers only into the buckets its ``ReadFrom`` allows: the topology's own
claim-check bucket and ``claim_check.read_from`` (``any``, the default, and a topology without
``claim_check``: every bucket). A pointer into another bucket is refused before any S3 call: a
message names the object, and whoever may send to the queue must not choose what the consumer's
role reads (a confused deputy).

A refused pointer, a pointer whose object (or bucket) is gone, or whose object is over
``max_bytes``, is a ``ClaimCheckError`` (the worker dead-letters it at once, reason
``claim-check-refused``, ``claim-check-missing`` or ``claim-check-too-large``); any other S3
failure is an ``AwsError`` (a transient one: the worker redelivers the message later, and SQS's
redrive policy bounds the attempts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bus.aws.s3 import MISSING_OBJECT, PAYLOAD_TOO_LARGE, get_payload
from bus.claimcheck.pointer import Found, Pointer, find_pointer
from bus.envelope import Decoded, decode
from bus.errors import AwsError, ClaimCheckError, DecodeError
from bus.topology.claim_model import DEFAULT_MAX_SIZE
from bus.topology.claim_model import ClaimCheck as ClaimCheckSection  # not offload's ClaimCheck
from bus.topology.model import Topology, physical_name

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MISSING = "claim-check-missing"
TOO_LARGE = "claim-check-too-large"
REFUSED = "claim-check-refused"


class HasS3(Protocol):
    """What holds the S3 client (``AwsClients``); read only when a pointer arrives."""

    @property
    def s3(self) -> S3Client: ...


@dataclass(frozen=True)
class ReadFrom:
    """The buckets a consumer follows pointers into (physical names); ``None``: any bucket."""

    buckets: frozenset[str] | None = None

    @classmethod
    def of(cls, section: ClaimCheckSection | None, env: str | None) -> ReadFrom:
        """What ``claim_check`` allows in ``env``: its own bucket and ``read_from``; any bucket
        when ``read_from`` is ``any`` (the default) or the topology has no ``claim_check``."""
        if section is None or section.read_from is None:
            return cls()
        return cls(frozenset({physical_name(section.bucket, env), *section.read_from}))

    def allows(self, bucket: str) -> bool:
        return self.buckets is None or bucket in self.buckets


class ClaimReader:
    """Decodes received messages, claim-checked ones included."""

    def __init__(
        self,
        aws: HasS3,
        max_bytes: int = DEFAULT_MAX_SIZE,
        read_from: ReadFrom | None = None,
    ) -> None:
        self._aws = aws
        self.max_bytes = max_bytes
        self.read_from = read_from or ReadFrom()
        """The buckets pointers may name; a pointer into another is refused without an S3 call."""

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
        """The payload ``pointer`` names; ``ClaimCheckError`` when its bucket is not allowed (no
        S3 call is made), or its object is gone or too large."""
        if not self.read_from.allows(pointer.bucket):
            raise ClaimCheckError(
                f"claim check: pointer to {str(pointer)!r} refused: bucket {pointer.bucket!r} is "
                "neither the claim check's own bucket nor in claim_check.read_from; its payload "
                "was not read",
                reason=REFUSED,
                message_id=message_id,
            )
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


def claim_reader(aws: HasS3, topology: Topology | None, env: str | None) -> ClaimReader:
    """The reader of ``topology``'s consumers in ``env``: every consumer reads pointers (other
    producers may send them); ``claim_check.max_size``, when declared, bounds what it fetches and
    ``claim_check.read_from`` where from. Without a topology (``bus dlq show`` may have none) or
    its ``claim_check``: up to ``DEFAULT_MAX_SIZE``, from any bucket."""
    section = topology.claim_check if topology is not None else None
    max_bytes = section.max_size if section else DEFAULT_MAX_SIZE
    return ClaimReader(aws, max_bytes, ReadFrom.of(section, env))


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
