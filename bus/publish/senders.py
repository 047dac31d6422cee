"""One sender per kind of destination: SNS PublishBatch, SQS SendMessageBatch, EventBridge PutEvents.

A sender sends one batch (at most 10 entries, at most 256 KiB in all) and reports one ``EntryOutcome``
per entry: the message id, or the error code with whether it is worth retrying. Per-entry answers:
SNS and SQS list ``Successful`` and ``Failed`` entries (``Code``, ``SenderFault``), EventBridge
answers each entry in order with an ``EventId`` or an ``ErrorCode``; an entry the answer does not
mention failed with ``NoResultForEntry`` (final: AWS may have accepted it, a resend could duplicate
it). A call that fails as a whole fails every entry of its batch with the call's AWS error code, and
finally: botocore's standard retry mode has already retried it (throttling, 5xx and connection
errors, up to ``Settings.max_attempts``), so sending the batch again would multiply the attempts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bus.aws import AwsClients, aws_errors
from bus.aws.encoding import LightEntries, install_light_serializer
from bus.aws.errors import CONNECTION_ERROR
from bus.aws.limits import SNS_MESSAGE_BYTES
from bus.errors import AwsError
from bus.publish.prepare import MAX_BATCH_ENTRIES, Channel, Prepared

if TYPE_CHECKING:
    from types_aiobotocore_events.type_defs import PutEventsRequestEntryTypeDef
    from types_aiobotocore_sns.type_defs import PublishBatchRequestEntryTypeDef
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

_RETRYABLE_MARKERS = ("Throttl", "Internal", "ServiceUnavailable", "TooManyRequests", "Limit")
NO_RESULT = "NoResultForEntry"


def is_retryable(code: str, sender_fault: bool | None = None) -> bool:
    """Throttling, server-side and connection failures are retried; the sender's own are not."""
    if code == CONNECTION_ERROR:
        return True
    if any(marker in code for marker in _RETRYABLE_MARKERS):
        return True
    return sender_fault is False


@dataclass(frozen=True)
class EntryOutcome:
    entry_id: str
    message_id: str | None = None
    code: str | None = None
    message: str | None = None
    retryable: bool = False


class Sender(Protocol):
    """Sends one batch of prepared events to one destination."""

    channel: Channel

    async def send(self, batch: Sequence[Prepared]) -> list[EntryOutcome]: ...


def entry_id(item: Prepared) -> str:
    return str(item.index)


def _fifo(item: Prepared, channel: Channel) -> dict[str, str]:
    if not channel.fifo or item.group_id is None:
        return {}
    return {"MessageGroupId": item.group_id, "MessageDeduplicationId": item.id}


def _outcomes(
    batch: Sequence[Prepared], response: Any, id_key: str = "MessageId"
) -> list[EntryOutcome]:
    """SNS/SQS batch answers: ``Successful`` and ``Failed``; entries in neither are failures."""
    out = {
        s["Id"]: EntryOutcome(s["Id"], message_id=s[id_key]) for s in response.get("Successful", [])
    }
    for f in response.get("Failed", []):
        code = str(f.get("Code", "Unknown"))
        out[f["Id"]] = EntryOutcome(
            f["Id"],
            code=code,
            message=f.get("Message", ""),
            retryable=is_retryable(code, f.get("SenderFault")),
        )
    answers = []
    for item in batch:
        key = entry_id(item)
        found = out.get(key)
        if found is None:
            found = EntryOutcome(key, code=NO_RESULT, message="not in the response")
        answers.append(found)
    return answers


def error_code_of(exc: BaseException) -> str:
    """The code an entry failed with: the AWS code of an ``AwsError``, else the error's type."""
    return exc.code if isinstance(exc, AwsError) else type(exc).__name__


def failed_outcomes(batch: Sequence[Prepared], exc: BaseException) -> list[EntryOutcome]:
    """Every entry of ``batch`` failed, finally, with ``exc`` (a whole call failed, or broke)."""
    code, message = error_code_of(exc), str(exc) or type(exc).__name__
    return [EntryOutcome(entry_id(i), code=code, message=message) for i in batch]


def _call_failed(batch: Sequence[Prepared], exc: AwsError) -> list[EntryOutcome]:
    """A call that failed as a whole: final for every entry (botocore already retried it)."""
    return failed_outcomes(batch, exc)


class SnsSender:
    def __init__(self, aws: AwsClients, channel: Channel, topic_arn: str) -> None:
        self.aws = aws
        self.channel = channel
        self.topic_arn = topic_arn
        install_light_serializer(aws.sns)  # its entries skip botocore's shape walks

    async def send(self, batch: Sequence[Prepared]) -> list[EntryOutcome]:
        entries: list[PublishBatchRequestEntryTypeDef] = LightEntries(  # type: ignore[assignment]
            {
                "Id": entry_id(i),
                "Message": i.body,
                "MessageAttributes": i.attributes,
                **_fifo(i, self.channel),
            }
            for i in batch
        )
        try:
            with aws_errors("PublishBatch"):
                response = await self.aws.sns.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
                )
        except AwsError as exc:
            return _call_failed(batch, exc)
        return _outcomes(batch, response)


class SqsSender:
    def __init__(self, aws: AwsClients, channel: Channel, queue_url: str) -> None:
        self.aws = aws
        self.channel = channel
        self.queue_url = queue_url
        install_light_serializer(aws.sqs)  # its entries skip botocore's shape walks

    async def send(self, batch: Sequence[Prepared]) -> list[EntryOutcome]:
        entries: list[SendMessageBatchRequestEntryTypeDef] = LightEntries(  # type: ignore[assignment]
            {
                "Id": entry_id(i),
                "MessageBody": i.body,
                "MessageAttributes": i.attributes,
                **_fifo(i, self.channel),
            }
            for i in batch
        )
        try:
            with aws_errors("SendMessageBatch"):
                response = await self.aws.sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
        except AwsError as exc:
            return _call_failed(batch, exc)
        return _outcomes(batch, response)


class EventsSender:
    def __init__(self, aws: AwsClients, channel: Channel, bus_name: str) -> None:
        self.aws = aws
        self.channel = channel
        self.bus_name = bus_name

    async def send(self, batch: Sequence[Prepared]) -> list[EntryOutcome]:
        entries: list[PutEventsRequestEntryTypeDef] = [
            {
                "Source": i.spec.source,
                "DetailType": i.spec.cloudevents_type,
                "Detail": i.body,
                "EventBusName": self.bus_name,
                "Time": i.time,
            }
            for i in batch
        ]
        try:
            with aws_errors("PutEvents"):
                response = await self.aws.events.put_events(Entries=entries)
        except AwsError as exc:
            return _call_failed(batch, exc)
        answers = response.get("Entries", [])
        out: list[EntryOutcome] = []
        for pos, item in enumerate(batch):
            answer: Any = answers[pos] if pos < len(answers) else {"ErrorCode": NO_RESULT}
            if answer.get("EventId") and not answer.get("ErrorCode"):
                out.append(EntryOutcome(entry_id(item), message_id=answer["EventId"]))
            else:
                code = str(answer.get("ErrorCode") or "Unknown")
                out.append(
                    EntryOutcome(
                        entry_id(item),
                        code=code,
                        message=answer.get("ErrorMessage", ""),
                        retryable=is_retryable(code),
                    )
                )
        return out


class Batcher:
    """Fills one batch at a time: at most ``max_entries`` items and ``max_bytes`` bytes in all."""

    def __init__(
        self,
        size_of: Callable[[Prepared], int],
        max_entries: int = MAX_BATCH_ENTRIES,
        max_bytes: int = SNS_MESSAGE_BYTES,
    ) -> None:
        self.size_of = size_of
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: list[Prepared] = []
        self._bytes = 0

    def add(self, item: Prepared) -> list[list[Prepared]]:
        """Add ``item``; the batches that became full (to send now), in order."""
        size = self.size_of(item)
        full = []
        if self._items and self._bytes + size > self.max_bytes:
            full.append(self.take())
        self._items.append(item)
        self._bytes += size
        if len(self._items) >= self.max_entries:
            full.append(self.take())
        return full

    def take(self) -> list[Prepared]:
        """The batch being filled (perhaps empty); the next one starts empty."""
        batch, self._items, self._bytes = self._items, [], 0
        return batch


def batches(
    items: Sequence[Prepared],
    size_of: Callable[[Prepared], int],
    max_entries: int = MAX_BATCH_ENTRIES,
    max_bytes: int = SNS_MESSAGE_BYTES,
) -> list[list[Prepared]]:
    """Consecutive groups of at most ``max_entries`` items and ``max_bytes`` bytes in all."""
    batcher = Batcher(size_of, max_entries, max_bytes)
    out = [batch for item in items for batch in batcher.add(item)]
    last = batcher.take()
    return [*out, last] if last else out
