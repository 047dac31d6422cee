"""JSON parsing with a nesting limit: a document nested deeper than ``max_depth`` is refused with a
``ValueError`` (``TooDeep``) before it is parsed, so a hostile body or attribute can never raise
``RecursionError`` (Python's parser recurses once per level) nor cost more than one linear scan.

Used for every JSON text bus reads from a message: bodies (the envelope unwrapper, the DLQ tools)
and the ``bus.failure`` attribute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from bus.envelope.limits import MAX_DEPTH

__all__ = ["MAX_DEPTH", "TooDeep", "depth_exceeds", "loads"]

_TOKENS = re.compile(r'(?P<bracket>[\[\]{}])|"(?:[^"\\]|\\.)*+(?P<closed>")?', re.DOTALL)
"""A bracket, or a JSON string (skipped whole, so brackets inside strings do not count): from its
quote to the closing one, or to the end of the text when it is never closed (``closed`` unset).
A scan from a quote never fails and never backtracks (possessive ``*+``), so each character is
read once; a pattern that has to find the closing quote fails at every escaped quote of an open
string and reads the rest of the text again each time (quadratic)."""
_BRACKET = re.compile(r"[\[\]{}]")


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
    for bracket in _brackets(text):
        if bracket in "{[":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def _brackets(text: str) -> Iterator[str]:
    """The brackets of ``text`` outside its strings. After a string left open, all of them: its
    quotes are all escaped, so none closes it or opens another; ``json`` stops at the open string
    anyway, so counting them only decides which ``ValueError`` the text gets (as it always did)."""
    for match in _TOKENS.finditer(text):
        bracket = match["bracket"]
        if bracket is not None:
            yield bracket
        elif match["closed"] is None:
            for rest in _BRACKET.finditer(text, match.start() + 1):
                yield rest.group()
            return


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
