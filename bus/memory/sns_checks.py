"""SNS's refusals of a published message (AWS's codes and messages)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bus.aws.limits import message_size
from bus.memory.errors import client_error

if TYPE_CHECKING:
    from bus.memory.sns import Topic

MAX_BYTES = 262_144
_PLAIN_TYPES = ("String", "Number", "Binary")


def sns_error(op: str, message: str, code: str = "InvalidParameter") -> ClientError:
    return client_error(op, code, message)


def structured(op: str, body: str) -> str:
    try:
        variants = json.loads(body)
        return str(variants.get("sqs", variants["default"]))
    except (ValueError, KeyError, AttributeError):
        raise sns_error(op, "Invalid parameter: Message Structure - No default entry in JSON "
                         "message body") from None  # fmt: skip


def check_publish(
    op: str,
    topic: Topic,
    body: str,
    attributes: dict[str, Any],
    entry: dict[str, Any],
    size: int | None = None,
) -> None:
    """SNS's refusals of one message (``size``: its ``message_size``, if known)."""
    if not body:
        raise sns_error(op, "Invalid parameter: Empty message")
    if (message_size(body, attributes) if size is None else size) > MAX_BYTES:
        raise sns_error(op, "Invalid parameter: Message too long")
    for value in attributes.values():  # the usual case, every type plain: no names needed
        if value.get("DataType", "") not in _PLAIN_TYPES:
            _check_types(op, attributes)
            break
    if topic.fifo:
        if not entry.get("MessageGroupId"):
            raise sns_error(op, "Invalid parameter: The MessageGroupId parameter is required for "
                             "FIFO topics")  # fmt: skip
        if not entry.get("MessageDeduplicationId") and (
            topic.attributes.get("ContentBasedDeduplication", "false") != "true"
        ):
            raise sns_error(op, "Invalid parameter: The topic should either have "
                             "ContentBasedDeduplication enabled or MessageDeduplicationId "
                             "provided explicitly")  # fmt: skip


def _check_types(op: str, attributes: dict[str, Any]) -> None:
    """SNS's refusal of the first attribute whose type is not ``String``, ``Number`` or
    ``Binary``, or a custom type of them, or a ``String.Array`` that is not a JSON array."""
    for name, value in attributes.items():
        data_type = value.get("DataType", "")
        if data_type in _PLAIN_TYPES:
            continue
        data_type = str(data_type)
        if data_type.split(".", 1)[0] not in _PLAIN_TYPES:
            raise sns_error(op, f"Invalid parameter: MessageAttributes: The message attribute "
                             f"'{name}' has an invalid message attribute type, the set of "
                             "supported type prefixes is Binary, Number, and String.",
                         "ParameterValueInvalid")  # fmt: skip
        if data_type == "String.Array":
            try:
                valid = isinstance(json.loads(str(value.get("StringValue"))), list)
            except ValueError:
                valid = False
            if not valid:
                raise sns_error(op, f"Invalid parameter: MessageAttributes: The message attribute "
                                 f"'{name}' with type 'String.Array' must be an array.",
                             "ParameterValueInvalid")  # fmt: skip
