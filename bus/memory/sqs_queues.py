"""The queues of the in-memory SQS: create, look up, attributes, tags, purge, DLQ sources."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from bus.memory.errors import NO_QUEUE, client_error, invalid, ok
from bus.memory.movetask import MoveTasks
from bus.memory.queue import DEFAULTS, FIFO_DEFAULTS, Message, Queue
from bus.memory.sqs_checks import check_queue_attributes
from bus.memory.world import World

SQS = "AWS.SimpleQueueService."
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_VOLATILE_ATTRIBUTES = ("QueueArn", "CreatedTimestamp", "LastModifiedTimestamp")


class QueueStore:
    """One account's queues (the SQS calls about queues rather than messages)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.queues: dict[str, Queue] = {}
        self.meta = SimpleNamespace(region_name=world.region)
        self.move_tasks = MoveTasks(self)
        self._receipts = 0

    # -- lookup -----------------------------------------------------------------------------------

    def url_of(self, name: str) -> str:
        return f"https://sqs.{self.world.region}.amazonaws.com/{self.world.account_id}/{name}"

    def queue(self, url: str, operation: str) -> Queue:
        queue = self.queues.get(str(url).rstrip("/").rsplit("/", 1)[-1])
        if queue is None or queue.url != url:
            raise client_error(
                operation, NO_QUEUE, "The specified queue does not exist for this wsdl version."
            )
        return queue

    def by_arn(self, arn: str) -> Queue | None:
        queue = self.queues.get(arn.rsplit(":", 1)[-1])
        return queue if queue is not None and queue.arn == arn else None

    def redrive(self, queue: Queue) -> tuple[Queue, int] | None:
        """The dead-letter queue and ``maxReceiveCount`` of ``queue``, if it has a live one."""
        text = queue.attributes.get("RedrivePolicy")
        if not text:
            return None
        policy = json.loads(text)
        dlq = self.by_arn(str(policy.get("deadLetterTargetArn", "")))
        return None if dlq is None else (dlq, int(policy["maxReceiveCount"]))

    def put(self, queue: Queue, message: Message, now: float | None = None) -> None:
        """Store ``message`` in ``queue`` and wake its long polls (``now``: the clock's time, if
        the caller has read it)."""
        queue.messages[message.id] = message
        if message.dedup_id is not None:
            queue.remember(message, self.world.clock.now() if now is None else now)
        queue.notify()

    # -- queues -----------------------------------------------------------------------------------

    async def create_queue(
        self, QueueName: str, Attributes: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        op = "CreateQueue"
        attributes = {k: str(v) for k, v in (Attributes or {}).items()}
        fifo = QueueName.endswith(".fifo")
        if not _NAME.match(QueueName.removesuffix(".fifo")):
            raise invalid(op, "Can only include alphanumeric characters, hyphens, or underscores. "
                              "1 to 80 in length")  # fmt: skip
        if fifo != (attributes.get("FifoQueue", "false").lower() == "true"):
            raise invalid(op, "The name of a FIFO queue can only include alphanumeric characters, "
                              "hyphens, or underscores, must end with .fifo suffix.")  # fmt: skip
        check_queue_attributes(self, op, attributes, fifo)
        existing = self.queues.get(QueueName)
        if existing is not None:
            if any(existing.attributes.get(k, "") != v for k, v in attributes.items()):
                raise client_error(op, "QueueAlreadyExists",
                                   "A queue already exists with the same name and a different value "
                                   f"for attribute(s) {', '.join(sorted(attributes))}")  # fmt: skip
            return ok(QueueUrl=existing.url)
        now = int(self.world.clock.epoch())
        stored = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {}), **attributes}
        if "FifoQueue" in stored:
            stored["FifoQueue"] = stored["FifoQueue"].lower()
        queue = Queue(QueueName, self.url_of(QueueName), self.world.arn("sqs", QueueName),
                      stored, dict(tags or {}), now, now)  # fmt: skip
        self.queues[QueueName] = queue
        return ok(QueueUrl=queue.url)

    async def get_queue_url(
        self, QueueName: str, QueueOwnerAWSAccountId: str | None = None
    ) -> dict[str, Any]:
        queue = self.queues.get(QueueName)
        if queue is None or QueueOwnerAWSAccountId not in (None, self.world.account_id):
            raise client_error(
                "GetQueueUrl", NO_QUEUE, "The specified queue does not exist for this wsdl version."
            )
        return ok(QueueUrl=queue.url)

    async def list_queues(
        self, QueueNamePrefix: str = "", MaxResults: int | None = None, NextToken: str = ""
    ) -> dict[str, Any]:
        urls = sorted(q.url for q in self.queues.values() if q.name.startswith(QueueNamePrefix))
        start = int(NextToken or 0)
        limit = MaxResults or 1000
        page = urls[start : start + limit]
        answer: dict[str, Any] = {"QueueUrls": page} if page else {}
        if MaxResults and start + limit < len(urls):
            answer["NextToken"] = str(start + limit)
        return ok(**answer)

    async def delete_queue(self, QueueUrl: str) -> dict[str, Any]:
        queue = self.queue(QueueUrl, "DeleteQueue")
        del self.queues[queue.name]
        queue.notify()
        return ok()

    async def get_queue_attributes(
        self, QueueUrl: str, AttributeNames: list[str] | None = None
    ) -> dict[str, Any]:
        queue = self.queue(QueueUrl, "GetQueueAttributes")
        visible, in_flight, delayed = queue.counts(self.world.clock.now())
        every = {
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(queue.created),
            "LastModifiedTimestamp": str(queue.modified),
            **queue.attributes,
        }
        names = AttributeNames or []
        if "All" in names:
            return ok(Attributes=every)
        unknown = [n for n in names if n not in every and n not in _KNOWN]
        if unknown:
            raise client_error("GetQueueAttributes", "InvalidAttributeName",
                               f"Unknown Attribute {unknown[0]}.")  # fmt: skip
        chosen = {n: every[n] for n in names if n in every}
        return ok(Attributes=chosen) if chosen else ok()

    async def set_queue_attributes(
        self, QueueUrl: str, Attributes: dict[str, str]
    ) -> dict[str, Any]:
        op = "SetQueueAttributes"
        queue = self.queue(QueueUrl, op)
        attributes = {k: str(v) for k, v in Attributes.items()}
        check_queue_attributes(self, op, attributes, queue.fifo, creating=False)
        for key, value in attributes.items():
            if value == "" and key in ("RedrivePolicy", "Policy", "RedriveAllowPolicy"):
                queue.attributes.pop(key, None)
            else:
                queue.attributes[key] = value
        queue.modified = int(self.world.clock.epoch())
        return ok()

    async def tag_queue(self, QueueUrl: str, Tags: dict[str, str]) -> dict[str, Any]:
        self.queue(QueueUrl, "TagQueue").tags.update(Tags)
        return ok()

    async def untag_queue(self, QueueUrl: str, TagKeys: list[str]) -> dict[str, Any]:
        queue = self.queue(QueueUrl, "UntagQueue")
        for key in TagKeys:
            queue.tags.pop(key, None)
        return ok()

    async def list_queue_tags(self, QueueUrl: str) -> dict[str, Any]:
        tags = self.queue(QueueUrl, "ListQueueTags").tags
        return ok(Tags=dict(tags)) if tags else ok()

    async def purge_queue(self, QueueUrl: str) -> dict[str, Any]:
        queue = self.queue(QueueUrl, "PurgeQueue")
        now = self.world.clock.now()
        if queue.purged_at is not None and now - queue.purged_at < 60:
            raise client_error("PurgeQueue", SQS + "PurgeQueueInProgress",
                               f"Only one PurgeQueue operation on {queue.name} is allowed every "
                               "60 seconds.")  # fmt: skip
        queue.purged_at = now
        queue.messages.clear()
        return ok()

    async def list_dead_letter_source_queues(
        self, QueueUrl: str, MaxResults: int | None = None, NextToken: str = ""
    ) -> dict[str, Any]:
        dlq = self.queue(QueueUrl, "ListDeadLetterSourceQueues")
        urls = sorted(q.url for q in self.queues.values() if (r := self.redrive(q)) and r[0] is dlq)
        start = int(NextToken or 0)
        limit = MaxResults or 1000
        answer: dict[str, Any] = {"queueUrls": urls[start : start + limit]}
        if MaxResults and start + limit < len(urls):
            answer["NextToken"] = str(start + limit)
        return ok(**answer)


_KNOWN = frozenset({*DEFAULTS, *FIFO_DEFAULTS, "Policy", "RedrivePolicy", "RedriveAllowPolicy",
                    "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", *_VOLATILE_ATTRIBUTES})  # fmt: skip
