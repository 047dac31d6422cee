"""JSON parsing with a nesting limit: a document nested deeper than ``max_depth`` is refused with a
``ValueError`` (``TooDeep``) before it is parsed, so a hostile body or attribute can never raise
``RecursionError`` (Python's parser recurses once per level) nor cost more than one linear scan.

Used for every JSON text bus reads from a message: bodies (the envelope unwrapper, the DLQ tools)
and the ``bus.failure`` attribute.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bus.envelope.limits import MAX_DEPTH

__all__ = ["MAX_DEPTH", "TooDeep", "depth_exceeds", "loads"]

_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
"""A JSON string (skipped whole, so brackets inside strings do not count) or a bracket."""


class TooDeep(ValueError):
    """A JSON document nested deeper than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether ``text`` opens more than ``max_depth`` nested objects/arrays (linear, no recursion)."""
    if text.count("{") + text.count("[") <= max_depth:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("{", "["):
            depth += 1
            if depth > max_depth:
                return True
        elif token in ("}", "]"):
            depth -= 1
    return False


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` refusing documents nested deeper than ``max_depth`` (``TooDeep``); any
    other problem is ``json``'s own ``ValueError`` (bytes that are not UTF-8 included)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8: {exc}") from exc
    if depth_exceeds(text, max_depth):
        raise TooDeep(max_depth)
    try:
        return json.loads(text)
    except RecursionError as exc:  # cannot happen under the limit; never let it escape
        raise TooDeep(max_depth) from exc
