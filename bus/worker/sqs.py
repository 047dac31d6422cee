"""The SQS calls the worker makes on one queue, each wrapped in ``aws_errors``.

Batch calls answer per entry: they return the entries that failed, by receipt handle, with AWS's
error code and whether the fault was the sender's (not worth retrying) or the service's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.aws import aws_errors, error_code

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import MessageSystemAttributeNameType
    from types_aiobotocore_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
    )

BATCH = 10
SYSTEM_ATTRIBUTES: list[MessageSystemAttributeNameType] = [
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "SequenceNumber",
]
"""The system attributes the worker reads (``Received``): the receive count (retry decisions, the
last receive), the first receive time (``bus.failure``), and on FIFO queues the group (lanes, the
dead-letter copy) and the sequence number (order within a lane). ``All`` would cost botocore
about 8 us of parsing per message for attributes nobody reads (docs/benchmarks.md)."""


@dataclass(frozen=True)
class EntryFailure:
    code: str
    sender_fault: bool


def _failures(
    receipts: Sequence[str], failed: Sequence[Mapping[str, Any]]
) -> dict[str, EntryFailure]:
    return {
        receipts[int(f["Id"])]: EntryFailure(
            str(f.get("Code", "Unknown")), bool(f.get("SenderFault", False))
        )
        for f in failed
    }


@dataclass(frozen=True)
class QueueOps:
    """Receive, delete, change visibility and send on one queue URL."""

    sqs: SQSClient
    url: str

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Mapping[str, Any]]:
        with aws_errors("ReceiveMessage"):
            answer = await self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max(1, min(BATCH, max_messages)),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
                MessageAttributeNames=["All"],
            )
        return list(answer.get("Messages", []))

    async def delete_batch(self, receipts: Sequence[str]) -> dict[str, EntryFailure]:
        """Delete up to 10 messages; return the entries that failed, by receipt handle."""
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)
        ]
        with aws_errors("DeleteMessageBatch"):
            answer = await self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        return _failures(receipts, answer.get("Failed", []))

    async def change_visibility(self, receipt: str, seconds: int) -> None:
        with aws_errors("ChangeMessageVisibility"):
            await self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )

    async def change_visibility_batch(
        self, receipts: Sequence[str], seconds: int
    ) -> dict[str, EntryFailure]:
        """Set the visibility of up to 10 messages; return the entries that failed."""
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": seconds}
            for i, r in enumerate(receipts)
        ]
        with aws_errors("ChangeMessageVisibilityBatch"):
            answer = await self.sqs.change_message_visibility_batch(
                QueueUrl=self.url, Entries=entries
            )
        return _failures(receipts, answer.get("Failed", []))

    async def send(self, entry: Mapping[str, Any]) -> str:
        """SendMessage with ``entry``'s fields (body, attributes, FIFO ids); return the message id."""
        with aws_errors("SendMessage"):
            answer = await self.sqs.send_message(QueueUrl=self.url, **entry)
        return str(answer.get("MessageId", ""))


def call_failure(exc: BaseException) -> str:
    """What a failed call is logged (and counted) as: AWS's error code, or the exception's type
    (an error bus did not map: expired credentials, a bug)."""
    return error_code(exc) or type(exc).__name__


def chunks(items: Sequence[str], size: int = BATCH) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
