"""A lighter parse of ReceiveMessage's answer: the same dicts botocore makes, at a fraction of its CPU.

botocore parses a JSON answer by walking its output shape member by member (a method looked up by
name for every string of every message attribute). For ReceiveMessage, the call the worker makes
most, that walk costs more than reading the JSON itself. ``parse_receive`` is registered on the SQS
client for ``before-parse.sqs.ReceiveMessage`` (the event botocore emits with the raw answer before
its own parse, for handlers like its own ``_map_oauth2_errors``): for a successful answer of the
shape SQS documents it builds the messages itself, hands them to botocore as
``customized_response_dict`` (merged into the parse), and leaves botocore an empty JSON object to
walk. Everything else stays botocore's: signing, retries (decided before and after, on the status
and the parsed answer), ``ResponseMetadata``, and every error answer (status >= 300, parsed into
``ClientError`` with its code as ever).

It yields what botocore would: only the modelled members, ``null`` members left out, ``null`` map
values and list items kept, binary values base64-decoded to ``bytes`` (``tests/aws/test_receive``
holds the two side by side over generated answers). An answer it does not recognise (not JSON, not
an object, a member of an unexpected JSON type, bad base64) is left untouched: botocore parses it
exactly as before, errors included.
"""

from __future__ import annotations

import base64
from typing import Any

from bus.jsontext import loads

EVENT = "before-parse.sqs.ReceiveMessage"
EMPTY = b"{}"


class _Unusual(Exception):
    """The answer is not of the documented shape: botocore parses it."""


def _map(value: object) -> dict[Any, Any]:
    if type(value) is not dict:
        raise _Unusual
    return value


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise _Unusual
    return value


def _blob(value: object) -> bytes:
    if type(value) is not str:
        raise _Unusual
    return base64.b64decode(value)  # botocore's own blob parser (binascii.Error: not parsed)


_TEXT_ATTRIBUTE = {"DataType", "StringValue"}
"""The members of a String or Number attribute (most of them): botocore copies both as they are."""


def _attribute(raw: object) -> dict[str, Any] | None:
    """One ``MessageAttributeValue``."""
    if raw is None:
        return None
    value = _map(raw)
    if value.keys() == _TEXT_ATTRIBUTE and None not in value.values():
        return dict(value)
    out: dict[str, Any] = {}
    text = value.get("StringValue")
    if text is not None:
        out["StringValue"] = text
    binary = value.get("BinaryValue")
    if binary is not None:
        out["BinaryValue"] = _blob(binary)
    texts = value.get("StringListValues")
    if texts is not None:
        out["StringListValues"] = list(_list(texts))
    binaries = value.get("BinaryListValues")
    if binaries is not None:
        out["BinaryListValues"] = [None if b is None else _blob(b) for b in _list(binaries)]
    data_type = value.get("DataType")
    if data_type is not None:
        out["DataType"] = data_type
    return out


def _message(raw: object) -> dict[str, Any] | None:
    """One ``Message``, its members in the model's order."""
    if raw is None:
        return None
    value = _map(raw)
    out: dict[str, Any] = {}
    get = value.get
    for name in ("MessageId", "ReceiptHandle", "MD5OfBody", "Body"):  # strings: as they are
        member = get(name)
        if member is not None:
            out[name] = member
    system = get("Attributes")
    if system is not None:
        out["Attributes"] = dict(_map(system))
    digest = get("MD5OfMessageAttributes")
    if digest is not None:
        out["MD5OfMessageAttributes"] = digest
    attributes = get("MessageAttributes")
    if attributes is not None:
        out["MessageAttributes"] = {k: _attribute(v) for k, v in _map(attributes).items()}
    return out


def parse_messages(body: bytes) -> list[Any] | None:
    """The ``Messages`` of a successful ReceiveMessage answer's body, as botocore parses them
    (``None``: the answer has none); ``_Unusual`` (or the JSON or base64 error) when the body is
    not of the documented shape."""
    decoded = loads(body)
    answer = _map(decoded)
    messages = answer.get("Messages")
    if messages is None:
        return None
    return [_message(m) for m in _list(messages)]


def parse_receive(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """The ``before-parse`` handler (see the module's docstring)."""
    body = response_dict.get("body")
    if response_dict.get("status_code", 500) >= 300 or type(body) is not bytes or not body:
        return
    try:
        messages = parse_messages(body)
    except Exception:  # _Unusual; JSON, UTF-8 or base64 errors; nesting too deep: botocore's
        return
    if messages is not None:
        customized_response_dict["Messages"] = messages
    response_dict["body"] = EMPTY
