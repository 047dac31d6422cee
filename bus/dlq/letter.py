"""A message of a DLQ as an operator sees it: the SQS message, its envelope and why it died.

Reading here never raises: a DLQ holds exactly the messages that could not be decoded or
validated. The envelope is taken out of the body by the one unwrapper the worker uses too
(``bus.envelope.unwrap``: raw, SNS-in-SQS, EventBridge-in-SQS), without schema validation; what
cannot be unwrapped is reported in ``DlqMessage.decode_error`` and the raw body is kept. The
``bus.failure`` record is read by ``bus.aws.failure``: a record that is not bus's own is shown as
``untrusted``, never as the worker's word. Without a record, ``bus.aws.reports`` says why: SQS's
redrive (``max-receives``), EventBridge's report (``eventbridge:<ERROR_CODE>``) or ``unknown``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bus.aws.failure import (
    FAILURE_ATTRIBUTE,
    MAX_RECEIVES,
    FailureRecord,
    format_time,
    parse_time,
    read_failure,
)
from bus.aws.reports import without_record
from bus.claimcheck.pointer import find_pointer
from bus.envelope.unwrap import parse_body
from bus.envelope.unwrap import unwrap as unwrap_route
from bus.errors import DecodeError

__all__ = [
    "FAILURE_ATTRIBUTE",
    "MAX_RECEIVES",
    "DlqMessage",
    "FailureRecord",
    "format_time",
    "from_sqs",
    "parse_time",
    "unwrap",
]

JsonDict = dict[str, Any]
WRAPPERS = {"sqs": "raw", "sns": "sns", "eventbridge": "eventbridge"}
"""The worker's route names as the DLQ tools have always shown them (``raw`` for a plain body)."""


@dataclass(frozen=True)
class DlqMessage:
    """One message of a DLQ, decoded as far as it goes. ``receipt_handle`` is this receive's."""

    message_id: str
    body: str
    receipt_handle: str
    message_attributes: Mapping[str, JsonDict]
    """As SQS returns them: ``{name: {"DataType": ..., "StringValue" | "BinaryValue": ...}}``."""
    system_attributes: Mapping[str, str]
    envelope: JsonDict | None
    """The CloudEvents envelope, unwrapped from SNS or EventBridge; ``None`` if the body is not one."""
    decode_error: str | None
    failure: FailureRecord
    sent_at: datetime | None = None
    """When the message entered this queue (SQS ``SentTimestamp``)."""
    wrapper: str = "raw"
    """How the body carried the envelope: ``raw``, ``sns``, ``eventbridge`` or ``none``."""
    pointer: str | None = None
    """A claim-checked message's payload (``s3://bucket/key``); the body is the pointer, or the
    payload once read (``bus.dlq.claims``)."""

    # -- envelope fields, with message attributes as fallback ----------------------------------

    @property
    def event_type(self) -> str | None:
        value = (self.envelope or {}).get("type")
        return str(value) if value is not None else self.string_attribute("event_type")

    @property
    def event_version(self) -> int | None:
        value = (self.envelope or {}).get("eventversion")
        if value is None:
            value = self.string_attribute("event_version")
        try:
            return int(value) if value is not None and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            return None

    @property
    def event_id(self) -> str | None:
        value = (self.envelope or {}).get("id")
        return str(value) if value is not None else None

    @property
    def data(self) -> Any:
        return (self.envelope or {}).get("data")

    @property
    def receive_count(self) -> int:
        try:
            return int(self.system_attributes.get("ApproximateReceiveCount", "0") or 0)
        except ValueError:
            return 0

    @property
    def group_id(self) -> str | None:
        return self.system_attributes.get("MessageGroupId")

    @property
    def deduplication_id(self) -> str | None:
        return self.system_attributes.get("MessageDeduplicationId")

    @property
    def dead_letter_source_arn(self) -> str | None:
        """Set by SQS when its own redrive policy moved the message here."""
        return self.system_attributes.get("DeadLetterQueueSourceArn")

    @property
    def died_at(self) -> datetime | None:
        """When it was dead-lettered: ``bus.failure``'s ``failed_at``, else when it was sent here."""
        return self.failure.failed_at or self.sent_at

    def age_seconds(self, now: datetime) -> float | None:
        died = self.died_at
        return None if died is None else (now - died).total_seconds()

    def string_attribute(self, name: str) -> str | None:
        attr = self.message_attributes.get(name)
        if not isinstance(attr, Mapping):
            return None
        value = attr.get("StringValue")
        return str(value) if value is not None else None

    def attribute_value(self, name: str) -> Any:
        """A message attribute's value: numbers as numbers, strings as strings."""
        attr = self.message_attributes.get(name)
        if not isinstance(attr, Mapping):
            return None
        value = attr.get("StringValue")
        if value is not None and str(attr.get("DataType", "")).startswith("Number"):
            try:
                return int(value)
            except ValueError:
                try:
                    return float(value)
                except ValueError:
                    return value
        return value if value is not None else attr.get("BinaryValue")


# -- building records -----------------------------------------------------------------------------


def from_sqs(message: Mapping[str, Any], *, services: Collection[str] | None = None) -> DlqMessage:
    """Build a ``DlqMessage`` from one ``ReceiveMessage`` entry (with all attributes requested).
    ``services``: which services dead-letter into its queue, as the topology says (``None``: it
    does not say); they decide how a message without ``bus.failure`` is explained
    (``bus.aws.reports``)."""
    body = str(message.get("Body", ""))
    attributes: dict[str, JsonDict] = {
        str(k): dict(v) if isinstance(v, Mapping) else {}
        for k, v in (message.get("MessageAttributes") or {}).items()
    }
    system = {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()}
    failure_attr = attributes.get(FAILURE_ATTRIBUTE, {}).get("StringValue")
    message_id = str(message.get("MessageId", ""))
    envelope, wrapper, error = unwrap(body, attributes, message_id)
    claim = _claim(body, attributes, message_id)
    if claim is not None:
        error = (
            f"claim-checked: the payload is {claim} (`bus dlq show --full` reads it from a bucket "
            "claim_check.read_from allows)"
        )
    sent_at = _from_millis(system.get("SentTimestamp"))
    created = parse_time((envelope or {}).get("time"))
    failure = read_failure(
        str(failure_attr) if failure_attr is not None else None,
        sent_at=sent_at,
        created_at=created,
    )
    return DlqMessage(
        message_id=message_id,
        body=body,
        receipt_handle=str(message.get("ReceiptHandle", "")),
        message_attributes=attributes,
        system_attributes=system,
        envelope=envelope,
        decode_error=error,
        failure=failure or without_record(attributes, system, services),
        sent_at=sent_at,
        wrapper=wrapper,
        pointer=claim,
    )


def _claim(body: str, attributes: Mapping[str, Any], message_id: str) -> str | None:
    try:
        found = find_pointer(body, attributes, message_id)
    except DecodeError:
        return None
    return str(found.pointer) if found is not None else None


def unwrap(
    body: str, attributes: Mapping[str, Any] | None = None, message_id: str | None = None
) -> tuple[JsonDict | None, str, str | None]:
    """(envelope, wrapper, error) of a body in any of the three shapes; never raises."""
    try:
        found = unwrap_route(parse_body(body, message_id), attributes, message_id)
    except DecodeError as exc:
        return None, "none", exc.detail
    except Exception as exc:  # an attribute the route cannot read: still a message to show
        return None, "none", f"cannot unwrap: {type(exc).__name__}: {exc}"
    inner, wrapper = found.inner, WRAPPERS[found.route]
    if not _is_envelope(inner):
        return None, wrapper, "not a bus envelope (no specversion/type/id)"
    assert isinstance(inner, dict)
    return inner, wrapper, None


def _is_envelope(doc: Any) -> bool:
    return isinstance(doc, dict) and "type" in doc and "id" in doc and "specversion" in doc


def _from_millis(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
