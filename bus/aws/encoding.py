"""Request bodies encoded once, the lightest way that gives botocore's own bytes.

SNS speaks AWS's query protocol: botocore keeps a request's parameters as a dict and form-encodes
them each time the request's body is read, which is at least twice per call (to sign it and to send
it). For a ``PublishBatch`` of ten 1 KiB messages that encoding is the largest part of the client's
CPU per call. ``encode_query_body_once`` runs just before signing (``before-sign.sns``) and replaces
the dict with its encoding, made with botocore's own rules, so the signed body and the sent body are
the same bytes, produced once.

SQS speaks AWS's JSON protocol: botocore first checks the parameters against the operation's input
shape, then walks that shape again to copy them into the body it ``json.dumps``. For entries of
the form bus sends (plain strings, only members of the shape, no renamed, binary or timestamp
member) both walks are known to pass and to copy the parameters as they are, so
``LightSerializer`` encodes a ``SendMessageBatch`` whose entries bus marked (``LightEntries``) and
which are of that form when it serialises them (checked then, after every botocore handler ran) as
``json.dumps`` of the parameters: the bytes botocore's serializer makes of them (headers, method
and path still come from it). Every other call, and entries of any other form, go botocore's
whole way, its parameter checks included. Signing, retries, checksums and error parsing happen
after serialisation and are botocore's as before.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from botocore.serialize import JSONSerializer
from botocore.validate import ParamValidationDecorator

EVENT = "before-sign.sns"
"""The botocore event ``AwsClients`` registers the handler on (every SNS operation)."""

LIGHT_OPERATIONS = frozenset({"SendMessageBatch"})
"""JSON-protocol operations whose ``LightEntries`` are encoded without the shape walks."""

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


class LightEntries(list[dict[str, Any]]):
    """``SendMessageBatch`` entries that ``LightSerializer`` encodes directly when, at that moment,
    each one has a string ``Id`` and ``MessageBody``, optionally string ``MessageGroupId`` and
    ``MessageDeduplicationId``, and ``MessageAttributes`` of ``{"DataType": str, "StringValue":
    str}`` by string name, and nothing else (``checked``): what botocore's validator accepts and
    its serializer copies unchanged. Any other form goes botocore's whole way."""


def checked(entries: list[dict[str, Any]]) -> bool:
    """Whether every entry is of the form ``LightEntries`` describes (one loop: per entry)."""
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


class LightSerializer:
    """botocore's request serializer for a JSON-protocol client, with ``LightEntries`` calls of
    ``LIGHT_OPERATIONS`` encoded directly when they are of the checked form (module docstring)."""

    def __init__(self, full: Any, plain: JSONSerializer) -> None:
        self.full = full
        """The client's own serializer (it validates, then serialises)."""
        self.plain = plain
        """Its serializer without the validation."""

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> dict[str, Any]:
        entries = parameters.get("Entries")
        if (
            type(entries) is LightEntries
            and operation_model.name in LIGHT_OPERATIONS
            and type(parameters.get("QueueUrl")) is str
            and len(parameters) == 2
            and checked(entries)
        ):
            request: dict[str, Any] = self.plain.serialize_to_request({}, operation_model)
            request["body"] = json.dumps(parameters).encode(self.plain.DEFAULT_ENCODING)
            return request
        answer: dict[str, Any] = self.full.serialize_to_request(parameters, operation_model)
        return answer


def install_light_serializer(client: Any) -> bool:
    """Give a botocore JSON-protocol client (SQS) a ``LightSerializer``; whether it has one.

    Anything else (another protocol, a serializer botocore no longer builds this way, a stand-in
    client in a test) is left as it is, and ``LightEntries`` then go botocore's whole way."""
    full = getattr(client, "_serializer", None)
    if isinstance(full, LightSerializer):
        return True
    plain = getattr(full, "_serializer", None) if type(full) is ParamValidationDecorator else full
    if type(plain) is not JSONSerializer:
        return False
    client._serializer = LightSerializer(full, plain)
    return True
