"""The decoder's limits: what a consumed body may be before bus reads it (docs/envelope.md).

A body (and the JSON text inside an SNS notification's ``Message``) is read only when it is text
(``str``, or ``bytes`` in UTF-8), at most ``MAX_BODY_BYTES`` long, JSON nested at most
``MAX_DEPTH`` levels, and free of lone surrogates (``"\\ud800"`` parses, but is no Unicode text and
cannot be logged, sent or written as UTF-8). Anything else is a ``DecodeError`` with the reason, in
time linear in the body's size: never ``RecursionError`` or ``UnicodeError``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bus.errors import DecodeError

MAX_BODY_BYTES = 1_048_576
"""1 MiB, SQS's largest message (a queue's ``maximum_message_size`` is at most this)."""
MAX_DEPTH = 64
"""Levels of JSON objects and arrays, the body's own included (an envelope's ``data`` is level 2
of a raw body, level 3 of an EventBridge event's ``detail``)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(text: object, what: str, message_id: str | None) -> Any:
    """``text`` parsed as JSON within the limits; ``DecodeError`` naming ``what`` otherwise."""
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large(what, len(raw), message_id)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"{what} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}",
                message_id=message_id,
            ) from None
    if not isinstance(text, str):
        raise DecodeError(f"{what} is {type(text).__name__}, not text", message_id=message_id)
    size = len(text) if len(text) > MAX_BODY_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise _too_large(what, size, message_id)
    try:
        obj = json.loads(text)
    except RecursionError:
        raise too_deep(what, message_id) from None
    except ValueError as exc:  # JSONDecodeError, and integers longer than Python reads
        raise DecodeError(f"{what} is not JSON: {exc}", message_id=message_id) from None
    check_value(obj, what, message_id)
    return obj


def check_value(obj: object, what: str, message_id: str | None) -> None:
    """``DecodeError`` when ``obj`` (parsed JSON) nests deeper than ``MAX_DEPTH`` or holds a lone
    surrogate in a key or a string; the reason names the path. Iterative: no recursion."""
    stack: list[tuple[object, str, int]] = [(obj, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, what, path, message_id)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth + 1 > MAX_DEPTH:
            raise too_deep(what, message_id)
        if isinstance(value, dict):
            for key, item in value.items():
                key_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    _check_text(key, what, f"{key_path} (the key)", message_id)
                stack.append((item, key_path, depth + 1))
        else:
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def check_text(value: str, what: str, message_id: str | None) -> None:
    """``DecodeError`` when ``value`` holds a lone surrogate."""
    _check_text(value, what, "", message_id)


def _check_text(value: str, what: str, path: str, message_id: str | None) -> None:
    found = _SURROGATE.search(value)
    if found is not None:
        where = f"{what} at {_short(path)}" if path else what
        raise DecodeError(
            f"{where} holds a lone surrogate (\\u{ord(found.group()):04x}, offset "
            f"{found.start()}), which is not Unicode text",
            message_id=message_id,
        )


def _short(path: str) -> str:
    return path if len(path) <= 200 else path[:200] + "..."


def _too_large(what: str, size: int, message_id: str | None) -> DecodeError:
    return DecodeError(
        f"{what} is {size:,} bytes; the decoder reads at most {MAX_BODY_BYTES:,}",
        message_id=message_id,
    )


def too_deep(what: str, message_id: str | None) -> DecodeError:
    return DecodeError(
        f"{what} nests JSON objects and arrays more than {MAX_DEPTH} levels deep "
        "(the decoder's limit)",
        message_id=message_id,
    )
