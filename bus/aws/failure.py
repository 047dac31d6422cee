"""The ``bus.failure`` record: why a message is in a DLQ. The one reader and writer of it, for the
worker (which writes it on a DLQ copy, and reads the one a redriven message still carries) and the
DLQ tools (which show, filter and redrive by it). docs/envelope.md describes the format.

A producer can set any attribute, ``bus.failure`` included, so a record is trusted as bus's own only
when it has exactly the shape the worker writes and its times are plausible: ``first_failed_at`` no
later than ``failed_at``, not before the event was created (the envelope's ``time``) nor before
``EARLIEST``, and ``failed_at`` not after the message carrying it was sent (a record is written
before its copy is sent). A record that fails any check is never trusted: reading it gives a
record of reason ``untrusted`` that keeps the text (cut to ``MAX_RAW_CHARS``) and says why; the
worker then writes a fresh record of its own that carries the old text as ``previous_untrusted``.
Parsing is bounded: a record over ``MAX_RECORD_CHARS`` or nested deeper than two levels is refused
before ``json`` reads it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from bus.envelope.bounded import loads

FAILURE_ATTRIBUTE = "bus.failure"
MAX_RECEIVES = "max-receives"
"""The reason reported for a message without ``bus.failure``: SQS's own redrive moved it."""
UNTRUSTED = "untrusted"
"""The reason reported for a ``bus.failure`` that is not bus's own (forged or malformed)."""
UNKNOWN = "unknown"
"""The reason reported for a message nothing explains: in a DLQ only SNS (or EventBridge) writes to,
without a report of the service's own (SNS documents none on the message)."""
MAX_ERROR_CHARS = 1000
"""The worker keeps this much of an exception's text (then ``...`` when it had to shorten it)."""
MAX_RAW_CHARS = 1000
"""How much of an untrusted record is kept, on a DLQ copy and in the DLQ tools' view."""
MAX_RECORD_CHARS = 16_384
"""Longer than any record the worker writes (its text fields are cut): refused unread."""
EARLIEST = datetime(2026, 1, 1, tzinfo=UTC)
"""No bus worker wrote a record before this."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far the worker's clock may run ahead of SQS's and of the producer's."""
_REASON = re.compile(r"[a-z][a-z0-9-]{0,63}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_REQUIRED = {
    "reason": str,
    "error_type": str,
    "error": str,
    "attempt": int,
    "queue": str,
    "message_id": str,
    "first_failed_at": str,
    "failed_at": str,
}
_OPTIONAL = {"previous_untrusted": str}


def utc_iso(moment: datetime) -> str:
    """A time as the record writes it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when no zone is given); ``None`` if not one."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FailureRecord:
    """One ``bus.failure`` record, as the worker writes it or as a reader found it.

    A record read but not trusted has ``reason == "untrusted"``, ``untrusted`` (why) and ``raw``
    (its text, cut); a DLQ message without a record reads as ``FailureRecord()`` (``max-receives``).
    """

    reason: str = MAX_RECEIVES
    error_type: str | None = None
    error: str | None = None
    attempt: int | None = None
    queue: str | None = None
    message_id: str | None = None
    first_failed_at: datetime | None = None
    failed_at: datetime | None = None
    previous_untrusted: str | None = None
    """An earlier record the message carried that the worker did not trust (its text, cut)."""
    untrusted: str | None = None
    """Why the record read was not trusted; ``None``: trusted (or absent)."""
    raw: str | None = None
    """The untrusted record's text, cut to ``MAX_RAW_CHARS``."""
    reported_by: str | None = None
    """The AWS service whose message attributes gave this reason (``EventBridge``), not bus's own
    record: anyone allowed to send to the queue can set such attributes (``bus.aws.reports``)."""

    @property
    def trusted(self) -> bool:
        """bus's own record: neither untrusted, nor a service's report, nor a guess."""
        return (
            self.untrusted is None
            and self.reported_by is None
            and self.reason not in (MAX_RECEIVES, UNKNOWN)
        )

    def to_attribute(self) -> str:
        """The attribute's JSON, as the worker writes it (compact, ASCII)."""
        data: dict[str, Any] = {
            "reason": self.reason,
            "error_type": self.error_type or "",
            "error": self.error or "",
            "attempt": self.attempt or 1,
            "queue": self.queue or "",
            "message_id": self.message_id or "",
            "first_failed_at": format_time(self.first_failed_at),
            "failed_at": format_time(self.failed_at),
        }
        if self.previous_untrusted is not None:
            data["previous_untrusted"] = self.previous_untrusted
        return json.dumps(data, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        """The record for people and JSON output: times as ISO text; ``untrusted``/``raw`` only
        when set."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["first_failed_at"] = format_time(self.first_failed_at)
        out["failed_at"] = format_time(self.failed_at)
        for key in ("previous_untrusted", "untrusted", "raw", "reported_by"):
            if out[key] is None:
                del out[key]
        return out


def _untrusted(text: str, why: str) -> FailureRecord:
    return FailureRecord(reason=UNTRUSTED, untrusted=why, raw=text[:MAX_RAW_CHARS])


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"not a JSON object but a {type(data).__name__}"
    missing = sorted(set(_REQUIRED) - set(data))
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or unknown:
        return f"fields missing {missing} or unknown {unknown}"
    for name, kind in {**_REQUIRED, **_OPTIONAL}.items():
        value = data.get(name)
        if name in data and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"{name} is not a {kind.__name__}"
    if not _REASON.fullmatch(data["reason"]) or data["reason"] in (
        MAX_RECEIVES,
        UNTRUSTED,
        UNKNOWN,
    ):
        return f"reason {data['reason'][:64]!r} is not one the worker writes"
    if data["attempt"] < 1:
        return "attempt is below 1"
    if (
        len(data["error"]) > MAX_ERROR_CHARS + 3
        or len(data.get("previous_untrusted", "")) > MAX_RAW_CHARS
    ):
        return "a text field is longer than the worker writes"
    for name in ("first_failed_at", "failed_at"):
        if not _TIME.fullmatch(data[name]):
            return f"{name} is not a time as the worker writes it"
    return None


def _time_problem(
    first: datetime, last: datetime, sent_at: datetime | None, created_at: datetime | None
) -> str | None:
    if first < EARLIEST:
        return f"first_failed_at {utc_iso(first)} is before any bus worker ran"
    if first > last:
        return "first_failed_at is after failed_at"
    if created_at is not None and first < created_at - CLOCK_SKEW:
        return f"first_failed_at {utc_iso(first)} is before the event was created"
    if sent_at is not None and last > sent_at + CLOCK_SKEW:
        return f"failed_at {utc_iso(last)} is after the message was sent"
    return None


def read_failure(
    text: str | None,
    *,
    sent_at: datetime | None = None,
    created_at: datetime | None = None,
) -> FailureRecord | None:
    """The record in a ``bus.failure`` attribute's text; ``None`` when there is none.

    ``sent_at``: when the message carrying it was sent (SQS ``SentTimestamp``; the worker passes
    the first receive, no earlier). ``created_at``: the event's envelope ``time``. Never raises."""
    if text is None or text == "":
        return None
    if len(text) > MAX_RECORD_CHARS:
        return _untrusted(text, f"longer than {MAX_RECORD_CHARS} characters")
    try:
        data = loads(text, max_depth=2)
    except ValueError as exc:
        return _untrusted(text, f"not readable JSON: {str(exc)[:200]}")
    problem = _shape_problem(data)
    if problem is None:
        first = parse_time(data["first_failed_at"])
        last = parse_time(data["failed_at"])
        if first is None or last is None:
            problem = "a time does not parse"
        else:
            problem = _time_problem(first, last, sent_at, created_at)
    if problem is not None:
        return _untrusted(text, problem)
    return FailureRecord(
        reason=data["reason"],
        error_type=data["error_type"],
        error=data["error"],
        attempt=data["attempt"],
        queue=data["queue"],
        message_id=data["message_id"],
        first_failed_at=first,
        failed_at=last,
        previous_untrusted=data.get("previous_untrusted"),
    )
