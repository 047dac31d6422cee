"""Why a message without a ``bus.failure`` record is in a DLQ: what SQS or EventBridge say of it.

bus's worker writes ``bus.failure`` (``bus.aws.failure``). The services that dead-letter on their own
write no such record. What each one says, and what bus reads from it:

- **SQS** (a queue's redrive policy, after ``maxReceiveCount`` receives) sets the system attribute
  ``DeadLetterQueueSourceArn``, which no sender can set: reason ``max-receives``.
- **EventBridge** (a rule target's dead-letter queue) sets the message attributes ``ERROR_CODE``,
  ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``, ``RETRY_ATTEMPTS``, ``RULE_ARN`` and
  ``TARGET_ARN``: reason ``eventbridge:<ERROR_CODE>`` (``eventbridge:NO_PERMISSIONS``), the error
  message as ``error``, ``RETRY_ATTEMPTS + 1`` as ``attempt``. Message attributes can be set by
  anyone allowed to send to the queue, so such a record says ``reported_by="EventBridge"``: it is
  the service's report as the message carries it, never bus's own record, and never used to pick
  where a redrive sends the message. It is read only in a queue EventBridge may write to (one the
  topology declares as a rule target's DLQ, or any queue when no topology says).
- **SNS** (a subscription's redrive policy) documents no attribute saying why: the reason is
  ``unknown`` (SNS's delivery status logs and its ``NumberOfNotificationsRedrivenToDlq`` metric
  tell more). A message without any of these in a queue SQS's redrive may feed reads as
  ``max-receives``, as it always has.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from bus.aws.failure import MAX_ERROR_CHARS, UNKNOWN, FailureRecord

EVENTBRIDGE = "EventBridge"
EVENTBRIDGE_ATTRIBUTES = (
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "EXHAUSTED_RETRY_CONDITION",
    "RETRY_ATTEMPTS",
    "RULE_ARN",
    "TARGET_ARN",
)
"""The message attributes EventBridge sets on an event it dead-letters (AWS: "Using dead-letter
queues to process undelivered events")."""
_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_COUNT = re.compile(r"\d{1,4}")


def string_attribute(attributes: Mapping[str, Any], name: str) -> str | None:
    """A ``String`` message attribute's value, as SQS returns it; ``None`` otherwise."""
    attr = attributes.get(name)
    if not isinstance(attr, Mapping) or attr.get("DataType") != "String":
        return None
    value = attr.get("StringValue")
    return value if isinstance(value, str) else None


def eventbridge_report(attributes: Mapping[str, Any]) -> FailureRecord | None:
    """EventBridge's report on an event it dead-lettered, when the message carries one (at least
    ``ERROR_CODE``, ``RULE_ARN`` and ``TARGET_ARN``, the code a plain identifier)."""
    code, rule, target = (
        string_attribute(attributes, name) for name in ("ERROR_CODE", "RULE_ARN", "TARGET_ARN")
    )
    if code is None or rule is None or target is None or not _CODE.fullmatch(code):
        return None
    retries = string_attribute(attributes, "RETRY_ATTEMPTS")
    message = string_attribute(attributes, "ERROR_MESSAGE")
    if message is not None and len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + "..."
    return FailureRecord(
        reason=f"eventbridge:{code}",
        error_type=code,
        error=message,
        attempt=int(retries) + 1 if retries is not None and _COUNT.fullmatch(retries) else None,
        reported_by=EVENTBRIDGE,
    )


def without_record(
    attributes: Mapping[str, Any],
    system: Mapping[str, str],
    services: Collection[str] | None,
) -> FailureRecord:
    """Why a message without ``bus.failure`` is in its DLQ. ``services``: the services the
    topology says dead-letter into this queue (``SQS``, ``SNS``, ``EventBridge``); ``None`` when
    it does not say (no topology, or a queue it does not declare as a DLQ)."""
    if system.get("DeadLetterQueueSourceArn"):
        return FailureRecord()  # SQS moved it: max-receives
    if services is None or EVENTBRIDGE in services:
        report = eventbridge_report(attributes)
        if report is not None:
            return report
    if services is None or "SQS" in services:
        return FailureRecord()
    return FailureRecord(reason=UNKNOWN)
