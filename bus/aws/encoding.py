"""Request bodies encoded once, the lightest way that gives botocore's own bytes.

SNS speaks AWS's query protocol: botocore keeps a request's parameters as a dict and form-encodes
them each time the request's body is read, which is at least twice per call (to sign it and to send
it). For a ``PublishBatch`` of ten 1 KiB messages that encoding is the largest part of the client's
CPU per call. ``encode_query_body_once`` runs just before signing (``before-sign.sns``) and replaces
the dict with its encoding, made with botocore's own rules, so the signed body and the sent body are
the same bytes, produced once.

Before that, botocore checks a call's parameters against the operation's input shape, then walks
the shape again to serialise them: SQS's JSON protocol copies them into the body it ``json.dumps``,
SNS's query protocol flattens them into ``PublishBatchRequestEntries.member.1.Message``-style
keys. For batch entries of the form bus sends (plain strings, only members of the shape, no
renamed, binary or timestamp member; ``LightEntries``) both walks are known to pass and their
result is known: ``LightSerializer`` makes it directly for a ``SendMessageBatch`` or a
``PublishBatch`` whose entries bus marked and which are of that form when it serialises them
(checked then, after every botocore handler ran): ``json.dumps`` of the parameters, or the same
flattened keys in the same order. Headers, method and path still come from botocore's serializer.
Every other call, and entries of any other form, go botocore's whole way, its parameter checks
included. Signing, retries, checksums and error parsing happen after serialisation and are
botocore's as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from botocore.serialize import JSONSerializer, QuerySerializer
from botocore.validate import ParamValidationDecorator

EVENT = "before-sign.sns"
"""The botocore event ``AwsClients`` registers the handler on (every SNS operation)."""


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def encode_query_body_once(request: Any, **_: Any) -> None:
    """botocore ``before-sign`` handler: a dict body becomes its form encoding (ASCII text)."""
    data = request.data
    if isinstance(data, dict):
        pairs = [(_utf8(key), _utf8(value)) for key, value in data.items()]  # as botocore does
        request.data = urlencode(pairs, doseq=True)


class LightEntries(list[dict[str, Any]]):
    """Batch entries that ``LightSerializer`` serialises directly when, at that moment, each one
    has a string ``Id`` and body (``MessageBody``, SNS's ``Message``), optionally a string
    ``MessageGroupId`` and ``MessageDeduplicationId``, and ``MessageAttributes`` of
    ``{"DataType": str, "StringValue": str}`` by string name, and nothing else: what botocore's
    validator accepts and its serializer copies unchanged. Any other form goes botocore's whole
    way."""


@dataclass(frozen=True)
class LightOperation:
    """A batch operation ``LightSerializer`` serialises: its two parameters and its body member."""

    target: str
    """The destination parameter: ``QueueUrl``, ``TopicArn``."""
    entries: str
    """The entries parameter."""
    body: str
    """The entry's body member."""

    @property
    def members(self) -> frozenset[str]:
        """The string members of an entry."""
        return frozenset({"Id", self.body, "MessageGroupId", "MessageDeduplicationId"})


LIGHT_OPERATIONS = {
    "SendMessageBatch": LightOperation("QueueUrl", "Entries", "MessageBody"),
    "PublishBatch": LightOperation("TopicArn", "PublishBatchRequestEntries", "Message"),
}


def checked(entries: list[dict[str, Any]], operation: LightOperation) -> bool:
    """Whether ``entries`` are some, each of the form ``LightEntries`` describes."""
    members, body = operation.members, operation.body
    for entry in entries:
        if type(entry) is not dict or "Id" not in entry or body not in entry:
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
            elif key not in members or type(value) is not str:
                return False
    return bool(entries)


def query_entries(name: str, entries: list[dict[str, Any]], into: dict[str, Any]) -> None:
    """The query protocol's flattened keys of checked ``entries`` (parameter ``name``), in
    botocore's order: each entry's members as given, a map's entries as ``.entry.N.Name`` and
    ``.entry.N.Value.<member>``."""
    for i, entry in enumerate(entries, 1):
        prefix = f"{name}.member.{i}."
        for key, value in entry.items():
            if key != "MessageAttributes":
                into[prefix + key] = value
                continue
            for j, (attribute, members) in enumerate(value.items(), 1):
                head = f"{prefix}MessageAttributes.entry.{j}."
                into[head + "Name"] = attribute
                for member, text in members.items():
                    into[f"{head}Value.{member}"] = text


class LightSerializer:
    """botocore's request serializer for a JSON- or query-protocol client, with ``LightEntries``
    calls of ``LIGHT_OPERATIONS`` serialised directly (see the module docstring)."""

    def __init__(self, full: Any, plain: JSONSerializer | QuerySerializer) -> None:
        self.full = full
        """The client's own serializer (it validates, then serialises)."""
        self.plain = plain
        """Its serializer without the validation."""
        self.unchecked: frozenset[str] = frozenset()
        """Operations serialised by ``plain`` without botocore's check (``bus.aws.unchecked``)."""

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> dict[str, Any]:
        if operation_model.name in self.unchecked:
            unchecked: dict[str, Any] = self.plain.serialize_to_request(parameters, operation_model)
            return unchecked
        operation = LIGHT_OPERATIONS.get(operation_model.name)
        if operation is not None and self._light(parameters, operation):
            request: dict[str, Any] = self.plain.serialize_to_request({}, operation_model)
            if isinstance(self.plain, QuerySerializer):
                request["body"][operation.target] = parameters[operation.target]
                query_entries(operation.entries, parameters[operation.entries], request["body"])
            else:
                request["body"] = json.dumps(parameters).encode(self.plain.DEFAULT_ENCODING)
            return request
        answer: dict[str, Any] = self.full.serialize_to_request(parameters, operation_model)
        return answer

    @staticmethod
    def _light(parameters: Any, operation: LightOperation) -> bool:
        entries = parameters.get(operation.entries)
        return (
            type(entries) is LightEntries
            and len(parameters) == 2
            and list(parameters) == [operation.target, operation.entries]
            and type(parameters[operation.target]) is str
            and checked(entries, operation)
        )


def light_serializer(client: Any) -> LightSerializer | None:
    """The ``LightSerializer`` of a botocore JSON- or query-protocol client (SQS, SNS), given to it
    on first use; the one serializer wrapper bus puts on a client.

    Anything else (another protocol, a serializer botocore no longer builds this way, a stand-in
    client in a test) is left as it is (None), and ``LightEntries`` then go botocore's whole way."""
    full = getattr(client, "_serializer", None)
    if isinstance(full, LightSerializer):
        return full
    plain = getattr(full, "_serializer", None) if type(full) is ParamValidationDecorator else full
    if type(plain) is not JSONSerializer and type(plain) is not QuerySerializer:
        return None
    client._serializer = light = LightSerializer(full, plain)
    return light


def install_light_serializer(client: Any) -> bool:
    """Give ``client`` a ``LightSerializer`` (``light_serializer``); whether it has one."""
    return light_serializer(client) is not None
