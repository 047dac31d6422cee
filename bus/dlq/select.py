"""Which dead letters a command acts on: options (type, reason, id, age) and a filter expression.

Every criterion given must hold (they are and-ed). Names an expression can use::

    type version id source time specversion datacontenttype correlationid causationid traceparent
        the envelope's fields (``version`` is ``eventversion``)
    data.<path>            the event's data, e.g. ``data.total_cents``, ``data.lines[0].sku``
    failure.<field>        reason error_type error attempt queue message_id first_failed_at failed_at
    attributes.<name>      a message attribute (Number attributes are numbers)
    envelope.<field>       any other envelope field
    message_id receive_count group body
    age                    seconds since the message died (``age > 1h``)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.dlq.expr import MISSING, Expression, Path, parse
from bus.dlq.letter import DlqMessage as DeadLetter
from bus.dlq.letter import format_time
from bus.errors import FilterError

_ENVELOPE_NAMES = {
    "type": "type",
    "version": "eventversion",
    "id": "id",
    "source": "source",
    "time": "time",
    "specversion": "specversion",
    "datacontenttype": "datacontenttype",
    "correlationid": "correlationid",
    "causationid": "causationid",
    "traceparent": "traceparent",
}
FAILURE_FIELDS = (
    "reason",
    "error_type",
    "error",
    "attempt",
    "queue",
    "message_id",
    "first_failed_at",
    "failed_at",
)
_SCALARS = ("message_id", "receive_count", "group", "body", "age")
_NESTED = ("data", "failure", "attributes", "envelope")
NAMES = tuple(sorted({*_ENVELOPE_NAMES, *_SCALARS, *_NESTED}))
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def check_path(path: Path) -> str | None:
    """Why ``path`` can never name anything in a dead letter, or ``None`` when it can."""
    root = path.parts[0]
    if root not in NAMES:
        return f"unknown name {root!r}; names are: {', '.join(NAMES)}"
    if root in _NESTED and len(path.parts) == 1 and root != "data":
        return f"{root!r} needs a field, e.g. {root}.{'reason' if root == 'failure' else 'name'}"
    if root not in _NESTED and len(path.parts) > 1:
        return f"{root!r} has no fields"
    if root == "failure" and path.parts[1] not in FAILURE_FIELDS:
        return f"unknown failure field {path.parts[1]!r}; fields are: {', '.join(FAILURE_FIELDS)}"
    return None


def parse_filter(source: str) -> Expression:
    return parse(source, check_path)


def parse_duration(text: str | float, option: str = "duration") -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d`` -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise FilterError(f"{option}: {text!r} is not a duration (e.g. 90s, 15m, 2h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def resolve(letter: DeadLetter, parts: Sequence[str | int], now: datetime) -> Any:
    """The value a path names in ``letter``; ``MISSING`` when it is not there."""
    root, rest = parts[0], parts[1:]
    if root in _ENVELOPE_NAMES:
        if root == "type":
            return letter.event_type if letter.event_type is not None else MISSING
        if root == "version":
            return letter.event_version if letter.event_version is not None else MISSING
        return _walk(letter.envelope, [_ENVELOPE_NAMES[str(root)]])
    if root == "data":
        return _walk(letter.data, rest) if letter.envelope is not None else MISSING
    if root == "envelope":
        return _walk(letter.envelope, rest)
    if root == "failure":
        value = getattr(letter.failure, str(rest[0]))
        if isinstance(value, datetime):
            return format_time(value)
        return MISSING if value is None else value
    if root == "attributes":
        value = letter.attribute_value(str(rest[0]))
        return MISSING if value is None else value
    return _scalar(letter, str(root), now)


def _scalar(letter: DeadLetter, name: str, now: datetime) -> Any:
    if name == "message_id":
        return letter.message_id
    if name == "receive_count":
        return letter.receive_count
    if name == "group":
        return letter.group_id if letter.group_id is not None else MISSING
    if name == "body":
        return letter.body
    age = letter.age_seconds(now)
    return MISSING if age is None else age


def _walk(value: Any, parts: Iterable[str | int]) -> Any:
    for part in parts:
        in_list = isinstance(part, int) and isinstance(value, list) and part < len(value)
        in_dict = isinstance(part, str) and isinstance(value, dict) and part in value
        if in_list or in_dict:
            value = value[part]
        else:
            return MISSING
    return value


@dataclass(frozen=True)
class Selection:
    """The dead letters to act on. The empty selection selects everything."""

    expression: Expression | None = None
    event_types: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    event_ids: frozenset[str] = frozenset()
    older_than: float | None = None
    """Seconds: only messages that died longer ago than this."""
    newer_than: float | None = None

    @classmethod
    def build(
        cls,
        filter: str | None = None,
        *,
        event_types: Iterable[str] = (),
        reasons: Iterable[str] = (),
        event_ids: Iterable[str] = (),
        older_than: str | float | None = None,
        newer_than: str | float | None = None,
    ) -> Selection:
        """Parse the options as the CLI takes them; ``FilterError`` names what is wrong."""
        return cls(
            expression=parse_filter(filter) if filter else None,
            event_types=frozenset(event_types),
            reasons=frozenset(reasons),
            event_ids=frozenset(event_ids),
            older_than=None if older_than is None else parse_duration(older_than, "--older-than"),
            newer_than=None if newer_than is None else parse_duration(newer_than, "--newer-than"),
        )

    @property
    def everything(self) -> bool:
        return self == Selection()

    def matches(self, letter: DeadLetter, now: datetime) -> bool:
        if self.event_types and letter.event_type not in self.event_types:
            return False
        if self.reasons and letter.failure.reason not in self.reasons:
            return False
        if self.event_ids and letter.event_id not in self.event_ids:
            return False
        if self.older_than is not None or self.newer_than is not None:
            age = letter.age_seconds(now)
            if age is None:
                return False
            if self.older_than is not None and age <= self.older_than:
                return False
            if self.newer_than is not None and age >= self.newer_than:
                return False
        if self.expression is None:
            return True
        return self.expression.matches(lambda parts: resolve(letter, parts, now))

    def describe(self) -> str:
        parts: list[str] = []
        if self.event_types:
            parts.append("type in " + ", ".join(sorted(self.event_types)))
        if self.reasons:
            parts.append("reason in " + ", ".join(sorted(self.reasons)))
        if self.event_ids:
            parts.append(f"{len(self.event_ids)} event id(s)")
        if self.older_than is not None:
            parts.append(f"older than {self.older_than:g}s")
        if self.newer_than is not None:
            parts.append(f"newer than {self.newer_than:g}s")
        if self.expression is not None:
            parts.append(self.expression.source)
        return " and ".join(parts) or "every message"
