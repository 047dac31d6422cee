"""The worker's unit tests over the in-memory AWS (``bus.memory``), for bus's own control flow.

``MemorySQS`` is a ``MemoryAws`` whose SQS calls are journaled into ``JOURNAL`` by hooks of its
``faults`` (``bus.memory.faults``), where the handlers below append their starts and ends too: a
test asserts on the order of events, not on the clock. ``sqs.faults`` makes calls fail (``fail``)
or batch entries fail (``fail_entry``); ``put``, ``ids``, ``message`` and ``expire`` reach into the
queues directly (never journaled). The ``sqs`` fixture (``conftest.py``) runs each test on the
virtual clock, so visibility timeouts, backoff and long polls take no real time.

``consumer()`` builds a real ``QueueConsumer`` over it, with ``handle`` bound to ``Ping`` (or
``GroupPing`` on a FIFO queue) whose ``behaviour`` steers it: ``ok``, ``gate`` (waits for
``open_gate(key)``), ``fail``, ``fail-until:N`` (fails while ``ctx.attempt < N``), ``gate+<another>``
(the gate, then the other), ``reject``, ``slow:S``, ``flaky`` (a transient error on the first try),
``log`` (logs through a logger of its own, not ``ctx.log``), ``bind`` (binds ``leak=<key>`` in
structlog's context variables; every start journals what ``leak`` is then).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

from bus.aws.failure import FailureRecord, read_failure
from bus.control import Reject
from bus.envelope import encode_body, new_envelope
from bus.memory import Call, MemoryAws
from bus.memory.queue import Message, Queue
from bus.memory.sqs import message_id_of
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.idempotency import IdempotencyStore, MemoryStore
from bus.schema import Registry
from bus.topology.model import Topology
from bus.worker import Context, Worker, WorkerParts
from bus.worker.capacity import Capacity
from bus.worker.consumer import QueueConsumer, Shared
from bus.worker.loader import load_bindings
from bus.worker.queues import QueueInfo
from bus.worker.scope import QueueScope
from bus.worker.stack import consume_stack
from bus.worker.stats import QueueStats
from tests.worker.apps import GroupPing, Permanent, Ping

ROOT = Path(__file__).resolve().parents[2]
JOURNAL: list[tuple[Any, ...]] = []
"""``("receive", url)``, ``("received", url, [ids])``, ``("receive-cancelled", url)``,
``("delete", id)``, ``("delete-refused", id)``, ``("visibility", id, seconds)``,
``("send", url, id)``, ``("start", key, attempt)``, ``("end", key)``, ``("logged", key)``."""
GATES: dict[str, asyncio.Event] = {}


class MemorySQS:
    """A ``MemoryAws`` whose SQS calls journal into ``JOURNAL``; a new one clears it."""

    def __init__(self) -> None:
        JOURNAL.clear()
        GATES.clear()
        self.aws = MemoryAws()
        self.faults = self.aws.faults
        self.calls: list[Call] = self.faults.record()
        self.faults.hook(None, "before", self._before)
        self.faults.hook(None, "after", self._after)

    async def _before(self, call: Call) -> None:
        if call.operation == "ReceiveMessage":
            JOURNAL.append(("receive", call.request["QueueUrl"]))

    async def _after(self, call: Call) -> None:
        url = call.request.get("QueueUrl")
        if call.operation == "ReceiveMessage" and call.error is None:
            JOURNAL.append(("received", url, list(call.message_ids)))
        elif call.operation == "SendMessage":
            JOURNAL.append(("send", url, call.message_ids[0] if call.message_ids else None))
        elif call.operation == "DeleteMessageBatch" and call.error is None:
            left = self.queue(str(url)).messages
            JOURNAL.extend(("delete", m) for m in call.message_ids if m not in left)
            JOURNAL.extend(("delete-refused", m) for m in call.failed_ids)
        elif call.operation.startswith("ChangeMessageVisibility") and call.error is None:
            JOURNAL.extend(("visibility", m, s) for m, s in _changed(call))

    # -- the queues, directly ---------------------------------------------------------------------

    async def create(self, name: str, **attributes: str) -> str:
        if name.endswith(".fifo"):
            attributes["FifoQueue"] = "true"
        answer = await self.aws.memory_sqs.create_queue(QueueName=name, Attributes=attributes)
        return str(answer["QueueUrl"])

    def queue(self, url: str) -> Queue:
        return self.aws.memory_sqs.queue(url, "test")

    def put(
        self,
        url: str,
        body: str,
        attributes: Mapping[str, Any] | None = None,
        group: str | None = None,
    ) -> str:
        """Put a message in the queue as a send would, without a call; its id."""
        queue, dedup = self.queue(url), uuid.uuid4().hex
        message = self.aws.memory_sqs.deliver(queue, body, dict(attributes or {}), group, dedup)
        return message.id

    def ids(self, url: str) -> list[str]:
        return list(self.queue(url).messages)

    def message(self, url: str, message_id: str) -> Message:
        return self.queue(url).messages[message_id]

    def expire(self, url: str, message_id: str) -> None:
        """Make a message visible now, as if its visibility timeout had run out."""
        queue = self.queue(url)
        queue.messages[message_id].visible_at = self.aws.world.clock.now()
        queue.notify()

    def receipts(self, message_id: str) -> list[str]:
        """The receipt handles the message was received with, in order."""
        return [
            m["ReceiptHandle"]
            for c in self.calls
            if c.operation == "ReceiveMessage" and c.response
            for m in c.response.get("Messages", [])
            if m["MessageId"] == message_id
        ]


def _changed(call: Call) -> list[tuple[str | None, int]]:
    """(message id, seconds) of each visibility change the call made."""
    if call.operation == "ChangeMessageVisibility":
        request = call.request
        return [(message_id_of(request["ReceiptHandle"]), int(request["VisibilityTimeout"]))]
    refused = {e["Id"] for e in (call.response or {}).get("Failed", [])}
    return [
        (message_id_of(e["ReceiptHandle"]), int(e["VisibilityTimeout"]))
        for e in call.request["Entries"]
        if e["Id"] not in refused
    ]


# -- handlers -------------------------------------------------------------------------------------


def open_gate(key: str) -> None:
    GATES.setdefault(key, asyncio.Event()).set()


async def handle(event: Ping, ctx: Context) -> None:
    """Journals its start and end; ``event.behaviour`` steers it (see the module's docstring)."""
    JOURNAL.append(("start", event.key, ctx.attempt))
    JOURNAL.append(("context", event.key, get_contextvars().get("leak")))
    try:
        behaviour = event.behaviour
        if behaviour.startswith("gate+"):  # wait for the gate, then behave as the rest says
            await GATES.setdefault(event.key, asyncio.Event()).wait()
            behaviour = behaviour.removeprefix("gate+")
        if behaviour == "bind":  # what an application's handler may do: it must not outlive it
            bind_contextvars(leak=event.key)
        if behaviour == "gate":
            await GATES.setdefault(event.key, asyncio.Event()).wait()
        elif behaviour == "fail":
            raise Permanent(f"{event.key}: always fails")
        elif behaviour.startswith("fail-until:") and ctx.attempt < int(behaviour.split(":")[1]):
            raise Permanent(f"{event.key}: attempt {ctx.attempt} fails")
        elif behaviour == "flaky" and ctx.try_number == 1:
            raise ConnectionError(f"{event.key}: first try fails")
        elif behaviour == "reject":
            raise Reject(f"{event.key}: rejected")
        elif behaviour.startswith("slow:"):
            await asyncio.sleep(float(behaviour.split(":")[1]))
        elif behaviour == "log":
            structlog.get_logger("app").info("inside the handler", key=event.key)
            JOURNAL.append(("logged", event.key))
    finally:
        JOURNAL.append(("end", event.key))


# -- a consumer over the fake ---------------------------------------------------------------------


def topology(
    *,
    fifo: bool = False,
    concurrency: int = 10,
    pollers: int = 1,
    idempotent: bool = False,
    retry: Mapping[str, Any] | None = None,
    handler: str = "tests.worker.rig:handle",
    timeout: float | None = None,
) -> Topology:
    queue = "q.fifo" if fifo else "q"
    event = "GroupPing" if fifo else "Ping"
    declared: dict[str, Any] = {
        "model": f"tests.worker.apps:{event}",
        "publish_to": [{"queue": queue}],
    }
    if fifo:
        declared["message_group_id"] = "group"
    binding: dict[str, Any] = {
        "events": {event: handler},
        "concurrency": concurrency,
        "pollers": pollers,
        "idempotent": idempotent,
        "timeout": timeout,
        "retry": retry or {"attempts": 1, "redelivery": {"initial": 0, "maximum": 0}},
    }
    return Topology.model_validate(
        {
            "name": "fake",
            "queues": {queue: {"fifo": True} if fifo else {}},
            "events": {event: declared},
            "handlers": {queue: binding},
        }
    )


@dataclass
class Rig:
    """A ``QueueConsumer`` over a ``MemorySQS``, and ways to feed it."""

    sqs: MemorySQS
    consumer: QueueConsumer
    registry: Registry
    url: str
    dlq_url: str | None

    @property
    def stats(self) -> QueueStats:
        return self.consumer.stats

    def failure_of(self, copy: str | None) -> FailureRecord | None:
        """The ``bus.failure`` record of the dead-letter copy ``copy`` (a DLQ message id)."""
        message = self.sqs.message(str(self.dlq_url), str(copy))
        return read_failure(message.attributes["bus.failure"]["StringValue"])

    def body(self, key: str, behaviour: str = "ok", group: str = "g") -> str:
        fifo = self.consumer.info.fifo
        spec = self.registry.spec("GroupPing" if fifo else "Ping")
        event = (
            GroupPing(key=key, behaviour=behaviour, group=group)
            if fifo
            else Ping(key=key, behaviour=behaviour)
        )
        return encode_body(new_envelope(spec, event))

    def put(self, key: str, behaviour: str = "ok", group: str = "g") -> str:
        event_type = "GroupPing" if self.consumer.info.fifo else "Ping"
        attributes = {"event_type": {"DataType": "String", "StringValue": event_type}}
        fifo_group = group if self.consumer.info.fifo else None
        return self.sqs.put(self.url, self.body(key, behaviour, group), attributes, fifo_group)

    worker: Worker

    async def stop(self, grace: float = 10.0) -> None:
        """``Worker.stop`` itself, over this consumer."""
        await self.worker.stop(grace)


async def consumer(
    sqs: MemorySQS,
    *,
    fifo: bool = False,
    dlq: bool = True,
    max_receive_count: int = 3,
    visibility_timeout: int = 30,
    wait_seconds: int = 1,
    process: Capacity | None = None,
    store: IdempotencyStore | None = None,
    log: structlog.typing.FilteringBoundLogger | None = None,
    middleware: Sequence[ConsumeMiddleware] = (),
    **binding: Any,
) -> Rig:
    topo = topology(fifo=fifo, **binding)
    registry = Registry.from_topology(topo, ROOT)
    (bound,) = load_bindings(topo, ROOT)
    name = bound.queue
    dlq_name = f"{name.removesuffix('.fifo')}-dlq{'.fifo' if fifo else ''}" if dlq else None
    attributes = {"VisibilityTimeout": str(visibility_timeout)}
    dlq_url = await sqs.create(dlq_name) if dlq_name else None
    if dlq_url:  # as bus apply declares it: SQS's own redrive behind bus's
        arn = sqs.queue(dlq_url).arn
        policy = f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": {max_receive_count}}}'
        attributes["RedrivePolicy"] = policy
    url = await sqs.create(name, **attributes)
    info = QueueInfo(
        name=name,
        physical=name,
        url=url,
        fifo=fifo,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count if dlq else None,
        dlq_url=dlq_url,
        dlq_name=dlq_name,
    )
    logger = log or structlog.get_logger("bus.worker")
    scope = QueueScope(info, bound, QueueStats(), logger.bind(queue=name))
    stack = consume_stack(scope, middleware, store or MemoryStore())
    made = QueueConsumer(sqs.aws.sqs, scope, Shared(registry, None, process, wait_seconds), stack)
    worker = Worker(sqs.aws, topo, base_dir=ROOT, parts=WorkerParts(registry=registry))
    worker.consumers.append(made)  # as Worker.start would, without resolving the queues
    return Rig(sqs, made, registry, url, dlq_url, worker)


def index(entry: tuple[Any, ...]) -> int:
    """Where ``entry`` is in the journal (the first time)."""
    return JOURNAL.index(entry)


def events(kind: str) -> list[tuple[Any, ...]]:
    return [e for e in JOURNAL if e[0] == kind]


async def until(check: Any, within: float = 5.0) -> bool:
    """Wait until ``check()`` holds (True) or ``within`` seconds pass (False): a bound on how long
    a broken build makes a test wait, never what the test asserts."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


__all__ = ["JOURNAL", "MemorySQS", "Rig", "consumer", "events", "index", "until"]
