"""Dead letters that are claim-checked: their payloads read from S3 (``bus dlq show --full``).

A claim-checked dead letter's body is the pointer; the DLQ tools list, export and redrive it as it
is (the payload stays in S3 until the bucket's lifecycle rule expires it). ``with_payloads`` reads
each pointer's payload and shows the envelope inside it, from the buckets the topology's consumers
may read (``claim_check.read_from``): a pointer into another bucket is not followed (a dead letter
is as untrusted as the message it was), and like a payload that is gone, or over the size limit, is
reported in the letter's ``decode_error`` with the pointer kept as the body.
"""

from __future__ import annotations

import dataclasses

from bus.claimcheck.pointer import find_pointer
from bus.claimcheck.resolve import ClaimReader, HasS3, claim_reader
from bus.dlq.inspect import Peeked
from bus.dlq.letter import DlqMessage, unwrap
from bus.errors import AwsError, DecodeError
from bus.topology.model import Topology


async def with_payloads(
    aws: HasS3, letters: Peeked, topology: Topology | None, env: str | None
) -> Peeked:
    """``letters`` with every claim-checked one's body replaced by its payload, read as
    ``topology``'s consumers in ``env`` would (any bucket without a topology)."""
    reader = claim_reader(aws, topology, env)
    return Peeked([await _read(reader, d) for d in letters], unreached=letters.unreached)


async def _read(reader: ClaimReader, letter: DlqMessage) -> DlqMessage:
    try:
        found = find_pointer(letter.body, letter.message_attributes, letter.message_id)
    except DecodeError:
        return letter
    if found is None:
        return letter
    try:
        payload = await reader.fetch(found.pointer, letter.message_id)
    except (DecodeError, AwsError) as exc:
        return dataclasses.replace(letter, decode_error=f"claim check: {exc}")
    text = payload.decode("utf-8", "replace")
    envelope, wrapper, error = unwrap(text, found.attributes, letter.message_id)
    return dataclasses.replace(
        letter, body=text, envelope=envelope, wrapper=wrapper, decode_error=error
    )
