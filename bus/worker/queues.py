"""What the worker needs to know about a queue, read from SQS itself at start-up.

The visibility timeout and the redrive policy (DLQ and ``maxReceiveCount``) are the queue's real
attributes, not the topology's wishes: they decide when a message comes back and when SQS's own
redrive would take it, so the worker's last-receive rule must follow them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bus.aws import AwsClients, aws_errors
from bus.errors import AwsError
from bus.topology.model import physical_name

MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


@dataclass(frozen=True)
class QueueInfo:
    """One queue as it exists: URL, FIFO-ness, visibility timeout, redrive policy."""

    name: str
    physical: str
    url: str
    fifo: bool
    visibility_timeout: int
    max_receive_count: int | None = None
    dlq_url: str | None = None
    dlq_name: str | None = None


async def queue_url(aws: AwsClients, name: str, owner: str | None = None) -> str:
    try:
        with aws_errors("GetQueueUrl"):
            if owner:
                answer = await aws.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)
            else:
                answer = await aws.sqs.get_queue_url(QueueName=name)
    except AwsError as exc:
        if exc.code in MISSING_QUEUE_CODES:
            raise AwsError(
                f"queue {name} does not exist: apply the topology first (bus apply)",
                code=exc.code,
                operation="GetQueueUrl",
            ) from exc
        raise
    return str(answer["QueueUrl"])


async def resolve_queue(aws: AwsClients, name: str, env: str | None) -> QueueInfo:
    """Look the queue ``name`` (logical) up in ``env`` and read its attributes and DLQ."""
    physical = physical_name(name, env)
    url = await queue_url(aws, physical)
    with aws_errors("GetQueueAttributes"):
        answer = await aws.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy", "FifoQueue"]
        )
    attrs = answer.get("Attributes", {})
    info = QueueInfo(
        name=name,
        physical=physical,
        url=url,
        fifo=attrs.get("FifoQueue", "false").lower() == "true",
        visibility_timeout=int(attrs.get("VisibilityTimeout", "30")),
    )
    redrive = attrs.get("RedrivePolicy")
    if not redrive:
        return info
    policy = json.loads(redrive)
    arn = str(policy["deadLetterTargetArn"])
    parts = arn.split(":")
    dlq_name, owner = parts[-1], parts[4] if len(parts) > 5 else None
    return QueueInfo(
        name=info.name,
        physical=info.physical,
        url=info.url,
        fifo=info.fifo,
        visibility_timeout=info.visibility_timeout,
        max_receive_count=int(policy["maxReceiveCount"]),
        dlq_url=await queue_url(aws, dlq_name, owner),
        dlq_name=dlq_name,
    )
