"""The worker's unit tests over the one in-memory SQS (``tests.fakes.sqs``): never AWS behaviour.

``FakeSQS`` is that fake journaling every call into ``JOURNAL``, where the handlers below append
their starts and ends too: a test asserts on the order of events, not on the clock. ``fail()``
makes the next calls of an operation raise; ``refuse()`` makes a message's next delete entries
fail.

``consumer()`` builds a real ``QueueConsumer`` over it, with ``handle`` bound to ``Ping`` (or
``GroupPing`` on a FIFO queue) whose ``behaviour`` steers it: ``ok``, ``gate`` (waits for
``open_gate(key)``), ``fail``, ``fail-until:N`` (fails while ``ctx.attempt < N``), ``gate+<another>`` (the gate, then the other), ``reject``,
``slow:S``, ``flaky`` (a transient error on the first try), ``log`` (logs through a logger of its own, not ``ctx.log``), ``bind`` (binds
``leak=<key>`` in structlog's context variables; every start journals what ``leak`` is then).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

from bus.control import Reject
from bus.envelope import encode_body, new_envelope
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
from tests.fakes.sqs import FakeSqs, client_error
from tests.worker.apps import GroupPing, Permanent, Ping

ROOT = Path(__file__).resolve().parents[2]
JOURNAL: list[tuple[Any, ...]] = []
"""``("receive", url)``, ``("received", url, [ids])``, ``("receive-cancelled", url)``,
``("delete", id)``, ``("delete-refused", id)``, ``("visibility", id, seconds)``,
``("send", url, id)``, ``("start", key, attempt)``, ``("end", key)``, ``("logged", key)``."""
GATES: dict[str, asyncio.Event] = {}


class FakeSQS(FakeSqs):
    """The shared fake (``tests.fakes.sqs``) journaling into ``JOURNAL``; a new one clears it."""

    def __init__(self) -> None:
        JOURNAL.clear()
        GATES.clear()
        super().__init__(JOURNAL)


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
    worker = Worker(
        cast(Any, SimpleNamespace(sqs=sqs)),
        topo,
        base_dir=ROOT,
        parts=WorkerParts(registry=registry),
    )
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


__all__ = ["JOURNAL", "FakeSQS", "Rig", "client_error", "consumer", "events", "index", "until"]
