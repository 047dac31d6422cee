"""The claim check: large events travel through S3 as the AWS extended clients' pointer.

- ``pointer``: the wire format (pure), the extended clients' ``PayloadS3Pointer`` and the
  ``ExtendedPayloadSize`` attribute;
- ``offload``: ``ClaimCheck``, the publish middleware that stores large events and sends pointers;
- ``resolve``: ``ClaimReader``, the worker's decode step, which reads a pointer's payload back
  from the buckets its ``ReadFrom`` allows (``claim_check.read_from``).

The bucket is topology.yaml's ``claim_check`` section (``bus.topology.claim_model``), created by
``bus apply`` (``bus.topology.claims``). See README "Large messages" and docs/envelope.md.
"""

from bus.claimcheck.offload import ClaimCheck
from bus.claimcheck.pointer import POINTER_CLASS, SIZE_ATTRIBUTE, Pointer, find_pointer
from bus.claimcheck.resolve import ClaimReader, ReadFrom, claim_reader

__all__ = [
    "POINTER_CLASS",
    "SIZE_ATTRIBUTE",
    "ClaimCheck",
    "ClaimReader",
    "Pointer",
    "ReadFrom",
    "claim_reader",
    "find_pointer",
]
