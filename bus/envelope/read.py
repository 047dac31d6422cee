"""Reading an envelope: a CloudEvents 1.0 event in structured JSON mode, every field checked.

What is required, what is optional and what bus does without it is docs/envelope.md's field table;
this module is that table in code. Unknown extension attributes are ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bus.envelope.model import CONTENT_TYPE, SPEC_VERSION, Envelope
from bus.errors import DecodeError

MAX_VERSION = 2_147_483_647
"""CloudEvents' Integer is a signed 32-bit number."""
VERSION_TEXT = re.compile(r"[1-9][0-9]{0,9}")
"""An Integer's canonical string form (no sign, no leading zero, no spaces), positive."""
_SCHEMA_VERSION = re.compile(r"(?:^|[/.:#_-])v(?P<version>[1-9][0-9]{0,9})(?:\.json)?$")
"""The version a ``dataschema`` URI names: ``.../OrderPlaced.v2.json``, ``urn:shop:OrderPlaced:v2``,
``.../OrderPlaced/v2``."""
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<clock>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)

_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
"""The form bus itself writes (``bus.envelope.model.format_time``): read without the general
RFC 3339 path."""


def envelope_from_dict(obj: object, message_id: str | None = None) -> Envelope:
    """The ``Envelope`` in a decoded body object; ``DecodeError`` naming the faulty field."""
    if not isinstance(obj, dict):
        raise DecodeError(
            f"envelope must be a JSON object, got {type(obj).__name__}", message_id=message_id
        )
    get = obj.get
    spec_version = get("specversion")
    if spec_version != SPEC_VERSION:
        raise _error(f"'specversion' must be {SPEC_VERSION!r} (got {spec_version!r})", message_id)
    id_: Any = get("id")
    source: Any = get("source")
    type_: Any = get("type")
    if not (_text(id_) and _text(source) and _text(type_)):  # the first one wrong, named
        id_ = _required(obj, "id", message_id)
        source = _required(obj, "source", message_id)
        type_ = _required(obj, "type", message_id)
    content_type = get("datacontenttype")
    if content_type is not None and content_type != CONTENT_TYPE:
        _check_content_type(content_type, message_id)
    dataschema = _optional(obj, "dataschema", message_id)
    version = _version(obj, dataschema, message_id)
    time = _time(obj, message_id)
    data = _data(obj, message_id)
    extensions = [get(key) for key in _EXTENSIONS]
    if not all(value is None or _text(value) for value in extensions):
        extensions = [_optional(obj, key, message_id) for key in _EXTENSIONS]
    correlation_id, causation_id, traceparent, subject = extensions
    return Envelope(
        id=id_,
        type=type_,
        version=version,
        source=source,
        time=time,
        data=data,
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=traceparent,
        dataschema=dataschema,
        subject=subject,
    )


_EXTENSIONS = ("correlationid", "causationid", "traceparent", "subject")
"""The optional text attributes read after ``data``, in the order their errors are reported."""


def _text(value: object) -> bool:
    """A non-empty string (a required attribute, or an optional one when given)."""
    return type(value) is str and value != ""


def _error(text: str, message_id: str | None) -> DecodeError:
    return DecodeError(f"envelope field {text}", message_id=message_id)


def _required(obj: dict[str, Any], key: str, message_id: str | None) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        got = "missing: CloudEvents requires it" if key not in obj else f"got {value!r}"
        raise _error(f"{key!r} must be a non-empty string ({got})", message_id)
    return value


def _optional(obj: dict[str, Any], key: str, message_id: str | None) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _error(f"{key!r} must be a non-empty string when given (got {value!r})", message_id)
    return value


def _check_content_type(value: object, message_id: str | None) -> None:
    """Absent, ``application/json`` (parameters allowed), ``text/json`` or any ``.../...+json``."""
    if value is None:
        return
    media = value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""
    if media in (CONTENT_TYPE, "text/json") or (media.endswith("+json") and "/" in media):
        return
    raise _error(
        f"'datacontenttype' must be {CONTENT_TYPE!r} or another JSON media type (got {value!r}): "
        "bus reads JSON data only",
        message_id,
    )


def _data(obj: dict[str, Any], message_id: str | None) -> dict[str, Any]:
    if "data_base64" in obj:
        raise _error(
            "'data_base64' holds binary data; a bus event's data is a JSON object in 'data'",
            message_id,
        )
    data = obj.get("data")
    if not isinstance(data, dict):
        got = "missing" if "data" not in obj else f"got {type(data).__name__}"
        raise _error(f"'data' must be a JSON object ({got})", message_id)
    return data


def _version(obj: dict[str, Any], dataschema: str | None, message_id: str | None) -> int | None:
    """``eventversion`` (a JSON integer, or its canonical string: CloudEvents' own Integer rules),
    else the version ``dataschema`` names, else ``None`` (the registry reads the current one)."""
    from_schema = None
    if dataschema is not None:
        found = _SCHEMA_VERSION.search(dataschema)
        from_schema = int(found["version"]) if found else None
    if "eventversion" not in obj:
        return from_schema if from_schema is not None and from_schema <= MAX_VERSION else None
    raw = obj["eventversion"]
    version: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        version = raw
    elif isinstance(raw, str) and VERSION_TEXT.fullmatch(raw):
        version = int(raw)
    if version is None or not 1 <= version <= MAX_VERSION:
        raise _error(
            "'eventversion' must be a positive integer: a JSON number, or its canonical string "
            f'such as "2" (got {raw!r})',
            message_id,
        )
    if from_schema is not None and from_schema != version:
        raise _error(
            f"'eventversion' {version} disagrees with 'dataschema' {dataschema!r} (version "
            f"{from_schema})",
            message_id,
        )
    return version


def _time(obj: dict[str, Any], message_id: str | None) -> datetime | None:
    value = obj.get("time")
    if value is None:
        return None
    if type(value) is str and _CANONICAL_TIME.fullmatch(value):  # as bus writes it
        try:
            return datetime.fromisoformat(value)  # ...Z: in UTC (Python 3.11 reads the Z)
        except ValueError:
            pass  # (a day or hour out of range) refused below, with the reason
    parsed = None
    found = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if found is not None:
        fraction = (found["fraction"] or "")[:6].ljust(6, "0")
        offset = "+00:00" if found["offset"] in ("Z", "z") else found["offset"]
        try:
            parsed = datetime.fromisoformat(
                f"{found['date']}T{found['clock']}.{fraction}{offset}"
            ).astimezone(UTC)
        except (ValueError, OverflowError):
            parsed = None
    if parsed is None:
        raise _error(
            f"'time' must be an RFC 3339 time with offset, such as 2026-11-23T18:04:05Z "
            f"(got {value!r})",
            message_id,
        )
    return parsed
