"""The SQS calls bus makes on one queue, each wrapped in ``aws_errors``: one model for the worker
and the DLQ tools.

Batch calls answer per entry: ``send_batch`` by the entry's position, ``delete_batch`` and
``change_visibility_batch`` by receipt handle, each failed entry with AWS's error code, message and
whether the fault was the sender's (not worth retrying) or the service's. ``QueueOps`` takes the
SQS client only, the method level where an in-memory SQS plugs in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bus.aws.errors import aws_errors, error_code
from bus.aws.limits import BATCH_ENTRIES

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import MessageSystemAttributeNameType
    from types_aiobotocore_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

BATCH = BATCH_ENTRIES
WORKER_SYSTEM_ATTRIBUTES: list[MessageSystemAttributeNameType] = [
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "SequenceNumber",
    "AWSTraceHeader",
]
"""The system attributes the worker reads (``Received``): the receive count (retry decisions, the
last receive), the first receive time (``bus.failure``), on FIFO queues the group (lanes, the
dead-letter copy) and the sequence number (order within a lane), and the X-Ray trace header of an
instrumented producer (``bus.otel`` continues its trace). ``All`` would cost botocore about 8 us
of parsing per message for attributes nobody reads (docs/benchmarks.md)."""
ALL: list[MessageSystemAttributeNameType] = ["All"]

T = TypeVar("T")


@dataclass(frozen=True)
class EntryFailure:
    """One entry of a batch call that SQS refused."""

    code: str
    sender_fault: bool
    message: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}".rstrip(": ")

    @classmethod
    def from_answer(cls, failed: Mapping[str, Any]) -> EntryFailure:
        return cls(
            str(failed.get("Code", "Unknown")),
            bool(failed.get("SenderFault", False)),
            str(failed.get("Message", "") or ""),
        )


NO_RESULT = EntryFailure("NoResult", sender_fault=False, message="SQS reported no result")


@dataclass(frozen=True)
class SendAnswer:
    """``send_batch``'s answer, by entry position: accepted (with message ids) and failed."""

    accepted: Mapping[int, str] = field(default_factory=dict)
    failed: Mapping[int, EntryFailure] = field(default_factory=dict)

    def failure(self, index: int) -> EntryFailure | None:
        """Why entry ``index`` was not accepted (``None``: it was)."""
        if index in self.accepted:
            return None
        return self.failed.get(index, NO_RESULT)


def _by_receipt(receipts: Sequence[str], answer: Mapping[str, Any]) -> dict[str, EntryFailure]:
    """A batch answer's failed entries by receipt handle: those SQS named as failed, and any it
    named neither way (``NO_RESULT``: not taken for done; SQS names every entry, this is a guard)."""
    out = {receipts[int(f["Id"])]: EntryFailure.from_answer(f) for f in answer.get("Failed", [])}
    if len(out) + len(answer.get("Successful", [])) < len(receipts):
        done = {int(ok["Id"]) for ok in answer.get("Successful", [])}
        for index, receipt in enumerate(receipts):
            if index not in done:
                out.setdefault(receipt, NO_RESULT)
    return out


@dataclass(frozen=True)
class QueueOps:
    """Receive, send, delete and change visibility on one queue URL."""

    sqs: SQSClient
    url: str

    async def receive(
        self,
        max_messages: int,
        wait_seconds: int,
        *,
        visibility_timeout: int | None = None,
        system_attributes: Sequence[MessageSystemAttributeNameType] = WORKER_SYSTEM_ATTRIBUTES,
    ) -> list[Mapping[str, Any]]:
        """Up to ``max_messages`` (at most 10) messages with all their message attributes."""
        extra: dict[str, Any] = {}
        if visibility_timeout is not None:
            extra["VisibilityTimeout"] = visibility_timeout
        with aws_errors("ReceiveMessage"):
            answer = await self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max(1, min(BATCH, max_messages)),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=list(system_attributes),
                MessageAttributeNames=["All"],
                **extra,
            )
        return list(answer.get("Messages", []))

    async def send(self, entry: Mapping[str, Any]) -> str:
        """SendMessage with ``entry``'s fields (body, attributes, FIFO ids); return the message id."""
        with aws_errors("SendMessage"):
            answer = await self.sqs.send_message(QueueUrl=self.url, **entry)
        return str(answer.get("MessageId", ""))

    async def send_batch(self, entries: Sequence[Mapping[str, Any]]) -> SendAnswer:
        """SendMessageBatch of up to 10 entries (SendMessage fields; ``Id`` is set here)."""
        request: list[SendMessageBatchRequestEntryTypeDef] = [
            {**entry, "Id": str(i)}  # type: ignore[typeddict-item]
            for i, entry in enumerate(entries)
        ]
        with aws_errors("SendMessageBatch"):
            answer = await self.sqs.send_message_batch(QueueUrl=self.url, Entries=request)
        return SendAnswer(
            accepted={
                int(ok["Id"]): str(ok.get("MessageId", "")) for ok in answer.get("Successful", [])
            },
            failed={int(f["Id"]): EntryFailure.from_answer(f) for f in answer.get("Failed", [])},
        )

    async def delete_batch(self, receipts: Sequence[str]) -> dict[str, EntryFailure]:
        """Delete up to 10 messages; return the entries that failed, by receipt handle."""
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)
        ]
        with aws_errors("DeleteMessageBatch"):
            answer = await self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        return _by_receipt(receipts, answer)

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
        return _by_receipt(receipts, answer)


def call_failure(exc: BaseException) -> str:
    """What a failed call is logged (and counted) as: AWS's error code, or the exception's type
    (an error bus did not map: expired credentials, a bug)."""
    return error_code(exc) or type(exc).__name__


def chunks(items: Sequence[T], size: int = BATCH) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (a batch call's entries)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def clean_attributes(raw: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Message attributes as ReceiveMessage returns them, in the shape SendMessage accepts (the
    data type and the string or binary value; list values and malformed entries are left out)."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in (raw or {}).items():
        if not isinstance(attr, Mapping) or not attr.get("DataType"):
            continue
        entry: dict[str, Any] = {"DataType": attr["DataType"]}
        if attr.get("StringValue") is not None:
            entry["StringValue"] = attr["StringValue"]
        elif attr.get("BinaryValue") is not None:
            entry["BinaryValue"] = attr["BinaryValue"]
        else:
            continue
        out[str(name)] = entry
    return out
