"""What the worker needs to know about a queue, read from SQS itself at start-up.

The visibility timeout and the redrive policy (DLQ and ``maxReceiveCount``) are the queue's real
attributes, not the topology's wishes: they decide when a message comes back and when SQS's own
redrive would take it, so the worker's last-receive rule must follow them. The DLQ's own
``MaximumMessageSize`` bounds the copies the worker sends it (``deadletter``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bus.aws import AwsClients
from bus.aws.limits import SQS_DEFAULT_QUEUE_BYTES
from bus.aws.queues import MISSING_QUEUE_CODES, RedrivePolicy, queue_attributes, queue_url
from bus.topology.model import physical_name

__all__ = ["MISSING_QUEUE_CODES", "QueueInfo", "resolve_queue"]


@dataclass(frozen=True)
class QueueInfo:
    """One queue as it exists: URL, FIFO-ness, visibility timeout, redrive policy, and the size
    limit of its DLQ."""

    name: str
    physical: str
    url: str
    fifo: bool
    visibility_timeout: int
    max_receive_count: int | None = None
    dlq_url: str | None = None
    dlq_name: str | None = None
    dlq_max_bytes: int = SQS_DEFAULT_QUEUE_BYTES
    """The DLQ's ``MaximumMessageSize``: a dead-letter copy (body and attributes) fits in it."""


async def resolve_queue(aws: AwsClients, name: str, env: str | None) -> QueueInfo:
    """Look the queue ``name`` (logical) up in ``env`` and read its attributes and DLQ."""
    physical = physical_name(name, env)
    url = await queue_url(aws.sqs, physical)
    attrs = await queue_attributes(
        aws.sqs, url, ["VisibilityTimeout", "RedrivePolicy", "FifoQueue"]
    )
    info = QueueInfo(
        name=name,
        physical=physical,
        url=url,
        fifo=attrs.get("FifoQueue", "false").lower() == "true",
        visibility_timeout=int(attrs.get("VisibilityTimeout", "30")),
    )
    policy = RedrivePolicy.parse(attrs.get("RedrivePolicy"))
    if policy is None:
        return info
    dlq_url = await queue_url(aws.sqs, policy.dlq_name, policy.dlq_owner)
    dlq = await queue_attributes(aws.sqs, dlq_url, ["MaximumMessageSize"])
    return replace(
        info,
        max_receive_count=policy.max_receive_count,
        dlq_url=dlq_url,
        dlq_name=policy.dlq_name,
        dlq_max_bytes=int(dlq.get("MaximumMessageSize", SQS_DEFAULT_QUEUE_BYTES)),
    )
