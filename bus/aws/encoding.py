"""Request bodies encoded once, the lightest way that gives botocore's own bytes.

SNS speaks AWS's query protocol: botocore keeps a request's parameters as a dict and form-encodes
them each time the request's body is read, which is at least twice per call (to sign it and to send
it). For a ``PublishBatch`` of ten 1 KiB messages that encoding is the largest part of the client's
CPU per call. ``encode_query_body_once`` runs just before signing (``before-sign.sns``) and replaces
the dict with its encoding, made with botocore's own rules, so the signed body and the sent body are
the same bytes, produced once.

SQS speaks AWS's JSON protocol: botocore first checks the parameters against the operation's input
shape, then walks that shape again to copy them into the body it ``json.dumps``. For entries bus
built itself (``CheckedEntries``: plain strings, only members of the shape, no renamed, binary or
timestamp member) both walks are known to pass and to copy the parameters as they are, so
``LightSerializer`` encodes such a ``SendMessageBatch`` as ``json.dumps`` of the parameters, the
bytes botocore's serializer makes of them (headers, method and path still come from it). Every
other call, and entries that are not ``CheckedEntries``, go botocore's whole way. Signing, retries,
checksums and error parsing happen after serialisation and are botocore's as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from botocore.serialize import JSONSerializer
from botocore.validate import ParamValidationDecorator

EVENT = "before-sign.sns"
"""The botocore event ``AwsClients`` registers the handler on (every SNS operation)."""

LIGHT_OPERATIONS = frozenset({"SendMessageBatch"})
"""JSON-protocol operations whose ``CheckedEntries`` are encoded without the shape walks."""

_ENTRY_KEYS = frozenset({"Id", "MessageBody", "MessageGroupId", "MessageDeduplicationId"})
"""String members of a ``SendMessageBatchRequestEntry`` bus sends (and ``MessageAttributes``)."""


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def encode_query_body_once(request: Any, **_: Any) -> None:
    """botocore ``before-sign`` handler: a dict body becomes its form encoding (ASCII text)."""
    data = request.data
    if isinstance(data, dict):
        pairs = [(_utf8(key), _utf8(value)) for key, value in data.items()]  # as botocore does
        request.data = urlencode(pairs, doseq=True)


class CheckedEntries(list[dict[str, Any]]):
    """``SendMessageBatch`` entries that passed ``checked_entries``: each one has a string ``Id``
    and ``MessageBody``, optionally string ``MessageGroupId``/``MessageDeduplicationId``, and
    ``MessageAttributes`` of ``{"DataType": str, "StringValue": str}`` by string name; nothing
    else. What botocore's validator accepts, and what its serializer copies unchanged."""


def _checked(entries: list[dict[str, Any]]) -> bool:
    """Whether every entry is of the form ``CheckedEntries`` describes (one loop: per entry)."""
    for entry in entries:
        if type(entry) is not dict or "Id" not in entry or "MessageBody" not in entry:
            return False
        for key, value in entry.items():
            if key == "MessageAttributes":
                if type(value) is not dict:
                    return False
                for name, attr in value.items():
                    if (
                        type(name) is not str
                        or type(attr) is not dict
                        or len(attr) != 2
                        or type(attr.get("DataType")) is not str
                        or type(attr.get("StringValue")) is not str
                    ):
                        return False
            elif key not in _ENTRY_KEYS or type(value) is not str:
                return False
    return True


def checked_entries(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``entries`` as ``CheckedEntries`` when every one is of the checked form, else as a plain
    list (which botocore validates and serialises its whole way)."""
    out = CheckedEntries(entries)
    return out if _checked(out) else list(out)


class LightSerializer:
    """botocore's request serializer for a JSON-protocol client, with ``CheckedEntries`` calls
    of ``LIGHT_OPERATIONS`` encoded directly (see the module docstring)."""

    def __init__(self, full: Any, plain: JSONSerializer) -> None:
        self.full = full
        """The client's own serializer (it validates, then serialises)."""
        self.plain = plain
        """Its serializer without the validation."""

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> dict[str, Any]:
        if (
            type(parameters.get("Entries")) is CheckedEntries
            and operation_model.name in LIGHT_OPERATIONS
            and type(parameters.get("QueueUrl")) is str
            and len(parameters) == 2
        ):
            request: dict[str, Any] = self.plain.serialize_to_request({}, operation_model)
            request["body"] = json.dumps(parameters).encode(self.plain.DEFAULT_ENCODING)
            return request
        answer: dict[str, Any] = self.full.serialize_to_request(parameters, operation_model)
        return answer


def install_light_serializer(client: Any) -> bool:
    """Give a botocore JSON-protocol client (SQS) a ``LightSerializer``; whether it has one.

    Anything else (another protocol, a serializer botocore no longer builds this way, a stand-in
    client in a test) is left as it is, and ``CheckedEntries`` then go botocore's whole way."""
    full = getattr(client, "_serializer", None)
    if isinstance(full, LightSerializer):
        return True
    plain = getattr(full, "_serializer", None) if type(full) is ParamValidationDecorator else full
    if type(plain) is not JSONSerializer:
        return False
    client._serializer = LightSerializer(full, plain)
    return True
