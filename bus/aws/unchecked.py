"""The worker's busiest SQS calls skip botocore's client-side parameter validation.

botocore checks every parameter of every call against the operation's input shape before it
serialises it: for a DeleteMessageBatch of ten entries that walk costs more than the serialising
itself (about 9 us of CPU per message deleted). The parameters of the calls in ``OPERATIONS`` are
built by bus alone, from typed values (``bus.aws.sqs.QueueOps``), so the check can only ever find
a bug of bus's, which the tests against LocalStack would show; SQS validates every request itself
all the same (a bad one is refused with a ``ClientError`` and its code). Every other operation, and
so everything whose parameters come from a user (message bodies, attributes, topology), is still
validated by botocore.

It is a setting of the client's one ``bus.aws.encoding.LightSerializer`` (which needs botocore's
serializer built as usual: a client without it is left as it is).
"""

from __future__ import annotations

from typing import Any

from bus.aws.encoding import light_serializer

OPERATIONS = frozenset({"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"})


def skip_validation(client: Any, operations: frozenset[str] = OPERATIONS) -> bool:
    """Serialise ``client``'s ``operations`` without validating them first; whether it could."""
    light = light_serializer(client)
    if light is None:
        return False
    light.unchecked |= operations
    return True
