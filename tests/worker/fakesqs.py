"""An in-memory SQS for unit tests of bus's own control flow (never for AWS behaviour).

``FakeSQS`` answers the calls ``bus.worker.sqs.QueueOps`` makes (ReceiveMessage,
DeleteMessageBatch, ChangeMessageVisibility(Batch), SendMessage) on any number of queue URLs. It
keeps each message's visibility, receive count and current receipt handle (an older one is refused,
as FIFO queues do), hands a FIFO group out only while none of its messages is in flight, and
appends every call to ``JOURNAL``, where the handlers below append their starts and ends too: a
test asserts on the order of events, not on the clock. ``fail()`` makes the next calls of an
operation raise; ``refuse()`` makes a message's next delete entries fail.

``consumer()`` builds a real ``QueueConsumer`` over it, with ``handle`` bound to ``Ping`` (or
``GroupPing`` on a FIFO queue) whose ``behaviour`` steers it: ``ok``, ``gate`` (waits for
``open_gate(key)``), ``fail``, ``fail-until:N`` (fails while ``ctx.attempt < N``), ``gate+<another>`` (the gate, then the other), ``reject``,
``slow:S``, ``flaky`` (a transient error on the first try), ``log`` (logs through a logger of its own, not ``ctx.log``), ``bind`` (binds
``leak=<key>`` in structlog's context variables; every start journals what ``leak`` is then).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import structlog
from botocore.exceptions import ClientError
from structlog.contextvars import bind_contextvars, get_contextvars

from bus.control import Reject
from bus.envelope import encode_body, new_envelope
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.idempotency import IdempotencyStore, MemoryStore
from bus.schema import Registry
from bus.topology.model import Topology
from bus.worker import Context, Worker
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


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@dataclass
class FakeMessage:
    id: str
    body: str
    attributes: dict[str, Any]
    group: str | None
    sequence: int
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str | None = None
    first_received_ms: int | None = None
    group_attrs: dict[str, str] = field(default_factory=dict)

    def in_flight(self, now: float) -> bool:
        return self.receipt is not None and self.visible_at > now


@dataclass
class FakeQueue:
    url: str
    visibility_timeout: int = 30
    messages: list[FakeMessage] = field(default_factory=list)

    @property
    def fifo(self) -> bool:
        return self.url.endswith(".fifo")

    def find(self, receipt: str) -> FakeMessage | None:
        return next((m for m in self.messages if m.receipt == receipt), None)

    def receivable(self, now: float, most: int) -> list[FakeMessage]:
        if not self.fifo:
            return [m for m in self.messages if m.visible_at <= now][:most]
        blocked = {m.group for m in self.messages if m.in_flight(now)}
        out: list[FakeMessage] = []
        for msg in self.messages:  # in sequence order: a group's first ones, consecutively
            if msg.group in blocked or len(out) >= most:
                blocked.add(msg.group)
                continue
            out.append(msg)
        return out


class FakeSQS:
    """The SQS calls of ``QueueOps``, in memory; ``JOURNAL`` records them."""

    def __init__(self) -> None:
        JOURNAL.clear()
        GATES.clear()
        self.queues: dict[str, FakeQueue] = {}
        self._ids = itertools.count(1)
        self._failures: dict[str, list[BaseException]] = {}
        self._refusals: dict[str, list[str]] = {}
        self.wait_scale = 0.25
        """A long poll of N seconds lasts N * wait_scale here (quick shutdowns in tests)."""

    # -- the test's side ---------------------------------------------------------------------

    def create(self, url: str, visibility_timeout: int = 30) -> FakeQueue:
        return self.queues.setdefault(url, FakeQueue(url, visibility_timeout))

    def put(
        self,
        url: str,
        body: str,
        attributes: Mapping[str, Any] | None = None,
        group: str | None = None,
        message_id: str | None = None,
    ) -> str:
        queue = self.create(url)
        number = next(self._ids)
        msg = FakeMessage(message_id or f"m{number}", body, dict(attributes or {}), group, number)
        queue.messages.append(msg)
        return msg.id

    def fail(self, operation: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (botocore's method name) raise ``error``."""
        self._failures.setdefault(operation, []).extend([error] * times)

    def refuse(self, message_id: str, code: str, *, sender_fault: bool, times: int = 1) -> None:
        """The next ``times`` delete entries of ``message_id`` fail with ``code``."""
        self._refusals.setdefault(message_id, []).extend(
            [f"{code}:{'sender' if sender_fault else 'service'}"] * times
        )

    def expire(self, url: str, message_id: str) -> None:
        """Make a message visible now, as if its visibility timeout had run out."""
        msg = next(m for m in self.queues[url].messages if m.id == message_id)
        msg.visible_at = 0.0

    def ids(self, url: str) -> list[str]:
        return [m.id for m in self.queues[url].messages]

    def message(self, url: str, message_id: str) -> FakeMessage:
        return next(m for m in self.queues[url].messages if m.id == message_id)

    def _maybe_fail(self, operation: str) -> None:
        pending = self._failures.get(operation)
        if pending:
            raise pending.pop(0)

    # -- the SQS calls -----------------------------------------------------------------------

    async def receive_message(
        self, *, QueueUrl: str, MaxNumberOfMessages: int, WaitTimeSeconds: int, **_: Any
    ) -> dict[str, Any]:
        JOURNAL.append(("receive", QueueUrl))
        self._maybe_fail("receive_message")
        queue = self.queues[QueueUrl]
        deadline = time.monotonic() + WaitTimeSeconds * self.wait_scale
        try:
            while True:
                now = time.monotonic()
                found = queue.receivable(now, MaxNumberOfMessages)
                if found or now >= deadline:
                    break
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            JOURNAL.append(("receive-cancelled", QueueUrl))
            raise
        out = [self._hand_out(queue, msg, now) for msg in found]
        JOURNAL.append(("received", QueueUrl, [m.id for m in found]))
        return {"Messages": out} if out else {}

    def _hand_out(self, queue: FakeQueue, msg: FakeMessage, now: float) -> dict[str, Any]:
        msg.receive_count += 1
        msg.receipt = f"{msg.id}#{msg.receive_count}"
        msg.visible_at = now + queue.visibility_timeout
        if msg.first_received_ms is None:
            msg.first_received_ms = int(time.time() * 1000)
        system = {
            "ApproximateReceiveCount": str(msg.receive_count),
            "ApproximateFirstReceiveTimestamp": str(msg.first_received_ms),
        }
        if msg.group is not None:
            system |= {"MessageGroupId": msg.group, "SequenceNumber": str(10**6 + msg.sequence)}
        return {
            "MessageId": msg.id,
            "ReceiptHandle": msg.receipt,
            "Body": msg.body,
            "MessageAttributes": msg.attributes,
            "Attributes": system,
        }

    async def delete_message_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, str]]
    ) -> dict[str, Any]:
        self._maybe_fail("delete_message_batch")
        queue = self.queues[QueueUrl]
        failed: list[dict[str, Any]] = []
        for entry in Entries:
            msg = queue.find(entry["ReceiptHandle"])
            refusal = self._refusals.get(msg.id if msg else "", [])
            if msg is None or refusal:
                code, fault = (
                    refusal.pop(0).split(":") if refusal else ("ReceiptHandleIsInvalid", "sender")
                )
                JOURNAL.append(("delete-refused", msg.id if msg else entry["ReceiptHandle"]))
                failed.append({"Id": entry["Id"], "Code": code, "SenderFault": fault == "sender"})
                continue
            queue.messages.remove(msg)
            JOURNAL.append(("delete", msg.id))
        return {"Failed": failed} if failed else {}

    async def change_message_visibility_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        self._maybe_fail("change_message_visibility_batch")
        queue = self.queues[QueueUrl]
        failed: list[dict[str, Any]] = []
        for entry in Entries:
            msg = queue.find(entry["ReceiptHandle"])
            if msg is None:
                failed.append(
                    {"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True}
                )
                continue
            self._set_visibility(msg, int(entry["VisibilityTimeout"]))
        return {"Failed": failed} if failed else {}

    async def change_message_visibility(
        self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> dict[str, Any]:
        self._maybe_fail("change_message_visibility")
        msg = self.queues[QueueUrl].find(ReceiptHandle)
        if msg is None:
            raise client_error("ReceiptHandleIsInvalid", "ChangeMessageVisibility")
        self._set_visibility(msg, VisibilityTimeout)
        return {}

    def _set_visibility(self, msg: FakeMessage, seconds: int) -> None:
        msg.visible_at = time.monotonic() + seconds
        JOURNAL.append(("visibility", msg.id, seconds))

    async def send_message(
        self, *, QueueUrl: str, MessageBody: str, **entry: Any
    ) -> dict[str, Any]:
        JOURNAL.append(("send", QueueUrl, None))
        self._maybe_fail("send_message")
        message_id = self.put(
            QueueUrl,
            MessageBody,
            entry.get("MessageAttributes"),
            entry.get("MessageGroupId"),
        )
        JOURNAL[-1] = ("send", QueueUrl, message_id)
        return {"MessageId": message_id}


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
    handler: str = "tests.worker.fakesqs:handle",
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
    """A ``QueueConsumer`` over a ``FakeSQS``, and ways to feed it."""

    sqs: FakeSQS
    consumer: QueueConsumer
    registry: Registry
    url: str
    dlq_url: str | None

    @property
    def stats(self) -> QueueStats:
        return self.consumer.stats

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


def consumer(
    sqs: FakeSQS,
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
    url = f"fake://{name}"
    dlq_url = f"fake://{name.removesuffix('.fifo')}-dlq{'.fifo' if fifo else ''}" if dlq else None
    sqs.create(url, visibility_timeout)
    if dlq_url:
        sqs.create(dlq_url)
    info = QueueInfo(
        name=name,
        physical=name,
        url=url,
        fifo=fifo,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count if dlq else None,
        dlq_url=dlq_url,
        dlq_name=dlq_url.removeprefix("fake://") if dlq_url else None,
    )
    logger = log or structlog.get_logger("bus.worker")
    scope = QueueScope(info, bound, QueueStats(), logger.bind(queue=name))
    stack = consume_stack(scope, middleware, store or MemoryStore())
    made = QueueConsumer(
        cast(Any, sqs), scope, Shared(registry, None, process, wait_seconds), stack
    )
    worker = Worker(cast(Any, SimpleNamespace(sqs=sqs)), topo, base_dir=ROOT, registry=registry)
    worker.consumers.append(made)  # as Worker.start would, without resolving the fake's queues
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
