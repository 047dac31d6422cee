"""SNS/SQS message attributes: the routing keys of an event, and their normalised form on consume.

Published: ``event_type`` (String), ``event_version`` (Number) and each field the event type exposes
(String, Number, or String.Array for lists; booleans as ``"true"``/``"false"``; omitted when null or
an empty string). Consumed: SQS's ``{"DataType", "StringValue"}``, SNS's ``{"Type", "Value"}`` and
Lambda's ``{"dataType", "stringValue"}`` shapes all become ``{name: str}``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from bus.aws.limits import SQS_INVALID_TEXT
from bus.errors import EventValidationError
from bus.schema.registry import EventSpec

EVENT_TYPE = "event_type"
EVENT_VERSION = "event_version"

Attribute = dict[str, str]
"""``{"DataType": ..., "StringValue": ...}``: the shape SQS and SNS take."""


def attribute(value: object) -> Attribute | None:
    """One field's value as a message attribute; ``None`` when it is null or empty;
    ``ValueError`` when it cannot be one (a number that is not finite or that SQS and SNS do not
    take, or a character SQS refuses)."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return {"DataType": "String", "StringValue": "true" if value else "false"}
    if isinstance(value, int | float | Decimal):
        text = str(value)
        if type(value) is float and (value == 0 or _FLOAT_LOW < abs(value) < _FLOAT_HIGH):
            return {"DataType": "Number", "StringValue": text}  # 17 digits at most, in range
        if isinstance(value, float | Decimal) and not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        _check_number(text)
        return {"DataType": "Number", "StringValue": text}
    if isinstance(value, str):
        return {"DataType": "String", "StringValue": _sendable(value)}
    if isinstance(value, list | tuple | set | frozenset):
        items = to_jsonable_python(list(value))
        text = json.dumps(items, ensure_ascii=False)
        return {"DataType": "String.Array", "StringValue": _sendable(text)}
    plain = to_jsonable_python(value)
    text = plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)
    return {"DataType": "String", "StringValue": _sendable(text)}


NUMBER_DIGITS = 38
"""The significant digits a ``Number`` attribute may have (SQS and SNS: "up to 38 digits of
precision, and it can be between 10^-128 and 10^+126"; leading and trailing zeroes are trimmed)."""
NUMBER_MIN_EXPONENT = -128
NUMBER_MAX = Decimal("1e126")
_FLOAT_LOW, _FLOAT_HIGH = 1e-128, 1e126
"""The floats nearest the bounds: a float strictly between them is within them (a float nearer
a bound than these would be the nearest itself)."""


def _check_number(text: str) -> None:
    """``ValueError`` when SQS and SNS would refuse ``text`` (a finite number as ``str`` writes
    it) as a ``Number`` attribute: more than 38 significant digits, or a magnitude outside
    10^-128 to 10^126 (zero aside)."""
    number = Decimal(text)
    if not number:
        return
    digits = number.as_tuple().digits  # no leading zero but in zero itself
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
    if significant > NUMBER_DIGITS:
        raise ValueError(
            f"{_shown(text)} has {significant} significant digits; a Number attribute takes at most "
            f"{NUMBER_DIGITS} (SQS and SNS)"
        )
    if number.adjusted() < NUMBER_MIN_EXPONENT or number.copy_abs() > NUMBER_MAX:
        raise ValueError(
            f"{_shown(text)} is outside what a Number attribute takes: a magnitude from 10^-128 to "
            "10^126 (SQS and SNS)"
        )


def _shown(text: str) -> str:
    return text if len(text) <= 48 else f"{text[:20]}...{text[-20:]} ({len(text)} characters)"


def _sendable(text: str) -> str:
    """``text`` when SQS takes it as an attribute value (SNS hands its attributes to raw-delivery
    SQS subscribers as they are, and SQS would refuse the delivery); ``ValueError`` naming the
    first character it refuses."""
    if text.isascii() and text.isprintable():
        return text
    bad = SQS_INVALID_TEXT.search(text)
    if bad is not None:
        raise ValueError(
            f"U+{ord(bad.group()):04X} at position {bad.start()} is a character SQS refuses in "
            "a message attribute (XML 1.0 characters only)"
        )
    return text


def routing_attributes(
    spec: EventSpec, event_type: str, version: int | None, event: BaseModel
) -> dict[str, Attribute]:
    """The message attributes of one event (SQS/SNS shape); version ``None``: the current one."""
    out: dict[str, Attribute] = {
        EVENT_TYPE: {"DataType": "String", "StringValue": event_type},
        EVENT_VERSION: {
            "DataType": "Number",
            "StringValue": str(spec.version if version is None else version),
        },
    }
    for name in spec.attributes:
        try:
            attr = attribute(getattr(event, name))
        except ValueError as exc:
            raise EventValidationError(
                spec.name, f"{spec.name}: attribute {name!r}: {exc}", [name]
            ) from exc
        if attr is not None:
            out[name] = attr
    return out


def attributes_size(attributes: Mapping[str, Attribute]) -> int:
    """Bytes SNS and SQS count for attributes: name, data type and value, UTF-8."""
    total = 0
    for name, a in attributes.items():
        total += len(name.encode()) + len(a["DataType"]) + len(a["StringValue"].encode())
    return total


def _value(raw: object) -> str | None:
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, Mapping):
        return None
    for key in ("StringValue", "Value", "stringValue"):
        if isinstance(raw.get(key), str):
            return str(raw[key])
    for key in ("BinaryValue", "binaryValue"):
        binary = raw.get(key)
        if isinstance(binary, bytes):
            return base64.b64encode(binary).decode()
        if isinstance(binary, str):
            return binary
    return None


def normalise(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    """``{name: value}`` from SQS, SNS or Lambda shaped attributes (binary values as base64)."""
    out: dict[str, str] = {}
    if not isinstance(attributes, Mapping):
        return out
    for name, raw in attributes.items():
        value = _value(raw)
        if value is not None:
            out[str(name)] = value
    return out
