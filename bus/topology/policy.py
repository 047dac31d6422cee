"""Queue access policies: only the topics and rules that feed a queue may send to it (pure).

Each statement names one AWS service principal and lists the exact source ARNs in an
``aws:SourceArn`` condition; there is never an unconditioned ``"Principal": "*"``. A queue that
nothing feeds gets no policy at all (only its own account can use it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SNS_PRINCIPAL = "sns.amazonaws.com"
EVENTS_PRINCIPAL = "events.amazonaws.com"


def queue_policy(
    queue_arn: str, topic_arns: Iterable[str], rule_arns: Iterable[str]
) -> dict[str, Any] | None:
    """The access policy of ``queue_arn``, or ``None`` when no topic or rule sends to it."""
    statements = [
        _allow_send(sid, principal, queue_arn, sorted(set(sources)))
        for sid, principal, sources in (
            ("AllowTopics", SNS_PRINCIPAL, topic_arns),
            ("AllowRules", EVENTS_PRINCIPAL, rule_arns),
        )
    ]
    kept = [s for s in statements if s is not None]
    if not kept:
        return None
    return {"Version": "2012-10-17", "Id": f"{queue_arn}/bus", "Statement": kept}


def _allow_send(
    sid: str, principal: str, queue_arn: str, sources: list[str]
) -> dict[str, Any] | None:
    if not sources:
        return None
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": sources}},
    }
