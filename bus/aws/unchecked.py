"""The worker's busiest SQS calls skip botocore's client-side parameter validation.

botocore checks every parameter of every call against the operation's input shape before it
serialises it: for a DeleteMessageBatch of ten entries that walk costs more than the serialising
itself (about 9 us of CPU per message deleted). The parameters of the calls in ``OPERATIONS`` are
built by bus alone, from typed values (``bus.aws.sqs.QueueOps``), so the check can only ever find
a bug of bus's, which the tests against LocalStack would show; SQS validates every request itself
all the same (a bad one is refused with a ``ClientError`` and its code). Every other operation, and
so everything whose parameters come from a user (message bodies, attributes, topology), is still
validated by botocore.

It relies on a botocore internal: the client's ``_serializer`` being botocore's
``ParamValidationDecorator`` (what a client with ``parameter_validation`` on has); a client
without it is left as it is.
"""

from __future__ import annotations

from typing import Any

from botocore.validate import ParamValidationDecorator

OPERATIONS = frozenset({"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"})


class _Serializer:
    """botocore's validating serializer, except for ``operations``: those are serialised as is."""

    def __init__(self, checked: ParamValidationDecorator, operations: frozenset[str]) -> None:
        self._checked = checked
        self._plain: Any = getattr(checked, "_serializer")  # noqa: B009 - not in the stubs
        self._operations = operations

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        if operation_model.name in self._operations:
            return self._plain.serialize_to_request(parameters, operation_model)
        return self._checked.serialize_to_request(parameters, operation_model)


def skip_validation(client: Any, operations: frozenset[str] = OPERATIONS) -> bool:
    """Serialise ``client``'s ``operations`` without validating them first; whether it could."""
    checked = getattr(client, "_serializer", None)
    if not isinstance(checked, ParamValidationDecorator) or not hasattr(checked, "_serializer"):
        return False
    client._serializer = _Serializer(checked, operations)
    return True
