"""Queue resolution: a queue's name -> its URL and attributes, with one clear error when it is
missing. The worker, the DLQ tools and topology observe all resolve queues through here.

Functions take the SQS client (``aws.sqs``), nothing else: an in-memory SQS with the same methods
plugs in here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.aws.errors import aws_errors
from bus.errors import AwsError

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
"""The codes SQS answers for a queue that does not exist (the query and the JSON protocol)."""


def is_missing_queue(exc: BaseException) -> bool:
    """Whether ``exc`` says the queue does not exist."""
    return isinstance(exc, AwsError) and exc.code in MISSING_QUEUE_CODES


def is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


def name_of(ref: str) -> str:
    """The queue name in a URL or an ARN (or ``ref`` itself)."""
    if is_url(ref):
        return ref.rstrip("/").rsplit("/", 1)[-1]
    if ref.startswith("arn:"):
        return ref.rsplit(":", 1)[-1]
    return ref


def missing_queue_error(described: str, exc: AwsError, advice: str = "") -> AwsError:
    """The one error for a queue that does not exist: names it, says what to do."""
    return AwsError(
        f"queue {described} does not exist: {advice or 'apply the topology first (bus apply)'}",
        code=exc.code,
        operation="GetQueueUrl",
    )


async def queue_url(
    sqs: SQSClient,
    name: str,
    owner: str | None = None,
    *,
    described: str | None = None,
    advice: str = "",
) -> str:
    """The URL of queue ``name`` (of account ``owner``, default the caller's). A missing queue is
    ``missing_queue_error(described or name, ..., advice)``."""
    try:
        with aws_errors("GetQueueUrl"):
            if owner:
                answer = await sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)
            else:
                answer = await sqs.get_queue_url(QueueName=name)
    except AwsError as exc:
        if exc.code in MISSING_QUEUE_CODES:
            raise missing_queue_error(described or name, exc, advice) from exc
        raise
    return str(answer["QueueUrl"])


async def queue_attributes(
    sqs: SQSClient, url: str, names: Sequence[QueueAttributeNameType]
) -> dict[str, str]:
    """``GetQueueAttributes`` of ``url``: the attributes asked for that the queue has."""
    with aws_errors("GetQueueAttributes"):
        answer = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))
    return {str(k): str(v) for k, v in answer.get("Attributes", {}).items()}


@dataclass(frozen=True)
class RedrivePolicy:
    """A queue's ``RedrivePolicy``: where SQS moves a message after ``max_receive_count``."""

    dlq_arn: str
    max_receive_count: int

    @property
    def dlq_name(self) -> str:
        return name_of(self.dlq_arn)

    @property
    def dlq_owner(self) -> str | None:
        parts = self.dlq_arn.split(":")
        return parts[4] or None if len(parts) > 5 else None

    @classmethod
    def parse(cls, text: str | None) -> RedrivePolicy | None:
        """The attribute's JSON; ``None`` when absent or empty. A malformed one is an error."""
        if not text:
            return None
        try:
            data: Any = json.loads(text)
            return cls(str(data["deadLetterTargetArn"]), int(data["maxReceiveCount"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise AwsError(
                f"queue's RedrivePolicy is not readable: {text[:200]!r}",
                code="InvalidAttributeValue",
                operation="GetQueueAttributes",
            ) from exc
