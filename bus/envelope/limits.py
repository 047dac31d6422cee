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
from bus.jsontext import loads

MAX_BODY_BYTES = 1_048_576
"""1 MiB, SQS's largest message (a queue's ``maximum_message_size`` is at most this)."""
MAX_DEPTH = 64
"""Levels of JSON objects and arrays, the body's own included (an envelope's ``data`` is level 2
of a raw body, level 3 of an EventBridge event's ``detail``)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
"""A ``\\uD800``-``\\uDFFF`` escape: a pair (an escaped emoji) or a lone surrogate."""


def load_json(
    text: object, what: str, message_id: str | None, max_bytes: int = MAX_BODY_BYTES
) -> Any:
    """``text`` parsed as JSON within the limits (``max_bytes``: a claim-checked payload's may be
    larger); ``DecodeError`` naming ``what`` otherwise."""
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        if len(raw) > max_bytes:
            raise _too_large(what, len(raw), message_id, max_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"{what} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}",
                message_id=message_id,
            ) from None
    if not isinstance(text, str):
        raise DecodeError(f"{what} is {type(text).__name__}, not text", message_id=message_id)
    if text.isascii() or len(text) > max_bytes:
        size = len(text)  # one byte per character (or too long whatever the encoding)
    else:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise _too_large(what, size, message_id, max_bytes)
    surrogates = _may_hold_surrogates(text)
    try:
        obj = json.loads(text) if surrogates else loads(text)  # the same, faster
    except RecursionError:
        raise too_deep(what, message_id) from None
    except ValueError as exc:  # JSONDecodeError, and integers longer than Python reads
        raise DecodeError(f"{what} is not JSON: {exc}", message_id=message_id) from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(obj, MAX_DEPTH):
        raise too_deep(what, message_id)
    if surrogates:
        _find_surrogate(obj, what, message_id)
    return obj


def check_value(obj: object, what: str, message_id: str | None, text: str | None = None) -> None:
    """``DecodeError`` when ``obj`` (parsed JSON) nests deeper than ``MAX_DEPTH`` or holds a lone
    surrogate in a key or a string; the reason names the path. ``text``, the JSON ``obj`` was
    parsed from, lets the common case skip both walks. Iterative: no recursion."""
    may_nest = text is None or text.count("[") + text.count("{") > MAX_DEPTH
    if may_nest and _deeper_than(obj, MAX_DEPTH):
        raise too_deep(what, message_id)
    if text is None or _may_hold_surrogates(text):
        _find_surrogate(obj, what, message_id)


def _may_hold_surrogates(text: str) -> bool:
    """A surrogate character, or a ``\\uD800``-``\\uDFFF`` escape (a pair, as an escaped emoji,
    or a lone one). ``isascii`` and ``in`` skip the regular expressions for most bodies."""
    if not text.isascii() and _SURROGATE.search(text):
        return True
    return "\\u" in text and _ESCAPED_SURROGATE.search(text) is not None


def _deeper_than(obj: object, limit: int) -> bool:
    """Whether ``obj`` nests more than ``limit`` levels of objects and arrays (level by level;
    written for speed: this runs for every body with more than ``limit`` brackets)."""
    level: list[Any] = [obj]
    depth = 0
    while level:
        below: list[Any] = []
        keep = below.append
        for value in level:
            kind = type(value)
            if kind is dict:
                items = value.values()
            elif kind is list:
                items = value
            else:
                continue
            for item in items:
                if type(item) is dict or type(item) is list:
                    keep(item)
        depth += 1
        if depth > limit:
            return True
        level = below
    return False


def _find_surrogate(obj: object, what: str, message_id: str | None) -> None:
    stack: list[tuple[object, str]] = [(obj, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_text(value, what, path, message_id)
        elif isinstance(value, dict):
            for key, item in value.items():
                key_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    _check_text(key, what, f"{key_path} (the key)", message_id)
                stack.append((item, key_path))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))


def check_text(value: str, what: str, message_id: str | None) -> None:
    """``DecodeError`` when ``value`` holds a lone surrogate."""
    _check_text(value, what, "", message_id)


def _check_text(value: str, what: str, path: str, message_id: str | None) -> None:
    if value.isascii():  # no surrogate can be ASCII: the usual case, without the search
        return
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


def _too_large(what: str, size: int, message_id: str | None, limit: int) -> DecodeError:
    return DecodeError(
        f"{what} is {size:,} bytes; the decoder reads at most {limit:,}",
        message_id=message_id,
    )


def too_deep(what: str, message_id: str | None) -> DecodeError:
    return DecodeError(
        f"{what} nests JSON objects and arrays more than {MAX_DEPTH} levels deep "
        "(the decoder's limit)",
        message_id=message_id,
    )
