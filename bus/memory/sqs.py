"""In-memory SQS: the aiobotocore ``SQSClient`` methods bus calls, same requests and answers.

Queues, attributes and tags (``sqs_queues``); send (single and batch, with SQS's size, attribute
and FIFO rules); receive with visibility timeouts, receive counts, long polling and redrive to the
dead-letter queue once ``maxReceiveCount`` receives have been used; delete and change visibility
(single and batch, AWS's stale-receipt rules); message move tasks (``movetask``). Times are the
running loop's (see ``bus.memory.clock``).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from botocore.exceptions import ClientError

from bus.aws.limits import message_size
from bus.memory.batch import check_batch, failure
from bus.memory.errors import client_error, invalid, ok
from bus.memory.queue import MAX_MESSAGES, Message, Queue, attributes_md5
from bus.memory.sqs_checks import check_send, select_attributes
from bus.memory.sqs_queues import SQS, QueueStore
from bus.memory.world import new_id


class Inbox:
    """``MemorySqs.deliver`` into one queue at one time, for the deliveries of one SNS or
    EventBridge call: a standard queue's delay, the send time and the account are read once."""

    __slots__ = ("_messages", "_now", "_queue", "_sender", "_sent_ms", "_sqs", "_visible_at")

    def __init__(self, sqs: MemorySqs, queue: Queue, now: float, sent_ms: int) -> None:
        self._sqs, self._queue, self._now, self._sent_ms = sqs, queue, now, sent_ms
        self._messages = None if queue.fifo else queue.messages
        self._visible_at = now + queue.number("DelaySeconds")
        self._sender = sqs.world.account_id

    @property
    def fifo(self) -> bool:
        return self._messages is None

    def write(
        self, body: str, attributes: dict[str, Any], group: str | None, dedup: str | None
    ) -> Message:
        """Store a message that passed the checks, as ``deliver`` does."""
        messages = self._messages
        if messages is None:  # FIFO: deduplication, sequence numbers
            return self._sqs.deliver(self._queue, body, attributes, group, dedup, now=self._now)
        message = Message(new_id(), body, attributes, self._sent_ms, self._visible_at, group,
                          dedup, None, self._sender)  # fmt: skip
        messages[message.id] = message
        if dedup is not None:
            self._queue.remember(message, self._now)
        self._queue.notify()
        return message


class MemorySqs(QueueStore):
    """One account's queues and messages, answering like aiobotocore's SQS client."""

    # -- sending ----------------------------------------------------------------------------------

    def _send(self, queue: Queue, op: str, entry: dict[str, Any]) -> dict[str, Any]:
        body = entry.get("MessageBody", "")
        attributes = dict(entry.get("MessageAttributes") or {})
        check_send(op, queue, body, attributes, entry)
        delay = entry.get("DelaySeconds")
        message = self.deliver(
            queue, body, attributes, entry.get("MessageGroupId"),
            entry.get("MessageDeduplicationId"), None if delay is None else int(delay),
        )  # fmt: skip
        return _sent(message.id, body, attributes, message.sequence)

    def deliver(
        self, queue: Queue, body: str, attributes: dict[str, Any], group: str | None = None,
        dedup: str | None = None, delay: int | None = None, *, now: float | None = None,
    ) -> Message:  # fmt: skip
        """Store a message that passed the checks (a send, or SNS's or EventBridge's delivery);
        on FIFO queues a duplicate within five minutes is the earlier message, not stored again.
        ``now``: the clock's time, if the caller has read it."""
        clock = self.world.clock
        if now is None:
            now = clock.now()
        fifo = queue.fifo
        if fifo:
            if dedup is None:
                dedup = hashlib.sha256(body.encode()).hexdigest()
            seen = queue.duplicate(dedup, now)
            if seen is not None:
                return queue.messages.get(seen[0]) or Message(
                    seen[0], body, attributes, 0, now, group, dedup, seen[1]
                )
        message = Message(  # positional: a third of the cost of keywords, on the hot path
            self.world.new_id(), body, attributes, clock.epoch_ms(now),  # id, body, ..., sent_ms
            now + (queue.number("DelaySeconds") if delay is None else delay),  # visible_at
            group, dedup, self.world.sequence_number() if fifo else None,  # group, dedup, sequence
            self.world.account_id,  # sender_id
        )  # fmt: skip
        self.put(queue, message, now)
        return message

    def inbox(self, queue: Queue, now: float, sent_ms: int | None = None) -> Inbox:
        """Where one SNS or EventBridge call delivers into ``queue`` at ``now`` (``sent_ms``:
        ``clock.epoch_ms(now)``, if the caller has it)."""
        if sent_ms is None:
            sent_ms = self.world.clock.epoch_ms(now)
        return Inbox(self, queue, now, sent_ms)

    async def send_message(self, QueueUrl: str, **entry: Any) -> dict[str, Any]:
        return ok(**self._send(self.queue(QueueUrl, "SendMessage"), "SendMessage", entry))

    async def send_message_batch(
        self, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        op = "SendMessageBatch"
        queue = self.queue(QueueUrl, op)
        check_batch(op, Entries, SQS)
        total = sum(
            message_size(e.get("MessageBody", ""), e.get("MessageAttributes") or {})
            for e in Entries
        )
        if total > queue.number("MaximumMessageSize"):
            raise client_error(op, SQS + "BatchRequestTooLong",
                               f"Batch requests cannot be longer than "
                               f"{queue.number('MaximumMessageSize')} bytes. You have sent "
                               f"{total} bytes.")  # fmt: skip
        successful, failed = [], []
        for entry in Entries:
            fields = {k: v for k, v in entry.items() if k != "Id"}
            try:
                successful.append({"Id": entry["Id"], **self._send(queue, op, fields)})
            except ClientError as exc:
                failed.append(failure(entry["Id"], exc))
        return ok(Successful=successful, Failed=failed)

    # -- receiving --------------------------------------------------------------------------------

    async def receive_message(
        self, QueueUrl: str, MaxNumberOfMessages: int = 1, VisibilityTimeout: int | None = None,
        WaitTimeSeconds: int | None = None, AttributeNames: list[str] | None = None,
        MessageSystemAttributeNames: list[str] | None = None,
        MessageAttributeNames: list[str] | None = None, ReceiveRequestAttemptId: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        op = "ReceiveMessage"
        queue = self.queue(QueueUrl, op)
        if not 1 <= MaxNumberOfMessages <= MAX_MESSAGES:
            raise invalid(op, f"Value {MaxNumberOfMessages} for parameter MaxNumberOfMessages is "
                              "invalid. Reason: Must be between 1 and 10, if provided.")  # fmt: skip
        wait = (
            queue.number("ReceiveMessageWaitTimeSeconds")
            if WaitTimeSeconds is None
            else WaitTimeSeconds
        )
        if not 0 <= wait <= 20:
            raise invalid(op, f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: "
                              "Must be >= 0 and <= 20, if provided.")  # fmt: skip
        visibility = (
            queue.number("VisibilityTimeout") if VisibilityTimeout is None else VisibilityTimeout
        )
        clock = self.world.clock
        deadline = clock.now() + wait
        while True:
            taken = self.take(queue, MaxNumberOfMessages, visibility)
            now = clock.now()
            if taken or now >= deadline or queue.name not in self.queues:
                break
            upcoming = queue.next_visible(now)
            await queue.wait(min(deadline, upcoming if upcoming is not None else deadline) - now)
        system = set(MessageSystemAttributeNames or []) | set(AttributeNames or [])
        wanted = MessageAttributeNames or []
        messages = [_received(m, system, wanted) for m in taken]
        return ok(Messages=messages) if messages else ok()

    def take(self, queue: Queue, limit: int, visibility: int) -> list[Message]:
        """Receive up to ``limit`` messages now: expired ones are dropped, those that used their
        receives go to the dead-letter queue, the rest become in flight for ``visibility`` s."""
        clock = self.world.clock
        now, epoch_ms = clock.now(), clock.epoch_ms()
        retention_ms = queue.number("MessageRetentionPeriod") * 1000
        redrive = self.redrive(queue)
        out: list[Message] = []
        for m in queue.candidates(now):
            if len(out) >= limit:
                break
            if epoch_ms - m.sent_ms >= retention_ms:
                del queue.messages[m.id]
            elif redrive is not None and m.receive_count >= redrive[1]:
                self.dead_letter(queue, m, redrive[0])
            else:
                self._receipts += 1
                m.receive_count += 1
                m.first_receive_ms = m.first_receive_ms or epoch_ms
                m.visible_at = now + visibility
                m.receipt = _receipt(queue, m, self._receipts)
                out.append(m)
        return out

    def dead_letter(self, queue: Queue, message: Message, dlq: Queue) -> None:
        """SQS's redrive: move ``message`` to ``dlq`` as it is (id, body, attributes, count)."""
        del queue.messages[message.id]
        message.source_arn = queue.arn
        message.receipt = None
        message.visible_at = self.world.clock.now()
        if dlq.fifo:
            message.sequence = self.world.sequence_number()
        self.put(dlq, message)

    # -- deleting and visibility ------------------------------------------------------------------

    def _holder(self, queue: Queue, op: str, receipt: str) -> Message | None:
        """The message ``receipt`` was issued for, if it is still in ``queue``."""
        try:
            queue_name, message_id, _ = base64.b64decode(receipt, validate=True).decode().split(" ")
        except ValueError:
            raise client_error(op, "ReceiptHandleIsInvalid",
                               f'The input receipt handle "{receipt}" is not a valid receipt '
                               "handle.") from None  # fmt: skip
        if queue_name != queue.name:
            raise client_error(op, "ReceiptHandleIsInvalid",
                               f'The input receipt handle "{receipt}" is not valid for this '
                               "queue.")  # fmt: skip
        return queue.messages.get(message_id)

    def _delete(self, queue: Queue, op: str, receipt: str) -> None:
        message = self._holder(queue, op, receipt)
        if message is not None and message.receipt == receipt:
            del queue.messages[message.id]  # a stale receipt succeeds and deletes nothing

    def _change(self, queue: Queue, op: str, receipt: str, seconds: int) -> None:
        if not 0 <= int(seconds) <= 43200:
            raise invalid(op, f"Value {seconds} for parameter VisibilityTimeout is invalid. "
                              "Reason: Must be between 0 and 43200, if provided.")  # fmt: skip
        message = self._holder(queue, op, receipt)
        now = self.world.clock.now()
        if message is None or message.receipt != receipt:
            raise invalid(op, f"Value {receipt} for parameter ReceiptHandle is invalid. Reason: "
                              "Message does not exist or is not available for visibility "
                              "timeout change.")  # fmt: skip
        if not message.in_flight(now):
            raise client_error(op, SQS + "MessageNotInflight", "Message is not in flight.")
        message.visible_at = now + int(seconds)
        queue.notify()

    async def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        self._delete(self.queue(QueueUrl, "DeleteMessage"), "DeleteMessage", ReceiptHandle)
        return ok()

    async def delete_message_batch(
        self, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        op = "DeleteMessageBatch"
        queue = self.queue(QueueUrl, op)
        check_batch(op, Entries, SQS)
        return _batch(Entries, lambda e: self._delete(queue, op, e["ReceiptHandle"]))

    async def change_message_visibility(
        self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> dict[str, Any]:
        op = "ChangeMessageVisibility"
        self._change(self.queue(QueueUrl, op), op, ReceiptHandle, VisibilityTimeout)
        return ok()

    async def change_message_visibility_batch(
        self, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        op = "ChangeMessageVisibilityBatch"
        queue = self.queue(QueueUrl, op)
        check_batch(op, Entries, SQS)
        return _batch(
            Entries,
            lambda e: self._change(queue, op, e["ReceiptHandle"], e.get("VisibilityTimeout", 0)),
        )

    # -- message move tasks -----------------------------------------------------------------------

    async def start_message_move_task(self, **kwargs: Any) -> dict[str, Any]:
        return ok(TaskHandle=self.move_tasks.start(**kwargs))

    async def list_message_move_tasks(self, SourceArn: str, MaxResults: int = 1) -> dict[str, Any]:
        return ok(Results=self.move_tasks.list(SourceArn, MaxResults))

    async def cancel_message_move_task(self, TaskHandle: str) -> dict[str, Any]:
        return ok(ApproximateNumberOfMessagesMoved=self.move_tasks.cancel(TaskHandle))


def _receipt(queue: Queue, message: Message, n: int) -> str:
    return base64.b64encode(f"{queue.name} {message.id} {n}".encode()).decode()


def message_id_of(receipt: str) -> str | None:
    """The id of the message a receipt handle of this SQS was issued for (``None``: not one)."""
    try:
        _, message_id, _ = base64.b64decode(receipt, validate=True).decode().split(" ")
    except ValueError:
        return None
    return message_id


def _sent(
    message_id: str, body: str, attributes: dict[str, Any], sequence: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MessageId": message_id,
        "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest(),
    }
    md5 = attributes_md5(attributes)
    if md5 is not None:
        out["MD5OfMessageAttributes"] = md5
    if sequence is not None:
        out["SequenceNumber"] = sequence
    return out


def _batch(entries: list[dict[str, Any]], act: Any) -> dict[str, Any]:
    successful, failed = [], []
    for entry in entries:
        try:
            act(entry)
            successful.append({"Id": entry["Id"]})
        except ClientError as exc:
            failed.append(failure(entry["Id"], exc))
    return ok(Successful=successful, Failed=failed)


def _received(message: Message, system: set[str], wanted: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": message.receipt,
        "MD5OfBody": message.md5_body,
        "Body": message.body,
    }
    if system:
        every = message.system_attributes()
        chosen = every if "All" in system else {k: v for k, v in every.items() if k in system}
        if chosen:
            out["Attributes"] = chosen
    if wanted and message.attributes:
        chosen_attrs = select_attributes(message.attributes, wanted)
        if chosen_attrs:
            out["MessageAttributes"] = chosen_attrs
            out["MD5OfMessageAttributes"] = attributes_md5(chosen_attrs)
    return out
