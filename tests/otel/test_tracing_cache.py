"""The tracing middlewares driven directly (no AWS): the attributes they build once per queue, and
once per event type and destinations, are not shared wrongly between queues, types, destinations
or deliveries; a span the sampler drops costs no settle hook."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from pydantic import BaseModel

from bus.envelope import Envelope
from bus.middleware.consume import HANDLED, Incoming, Outcome
from bus.middleware.publish import Outgoing, OutgoingBatch
from bus.otel.tracing import Tracing, TracingConsume, TracingPublish
from bus.publish.prepare import Channel
from bus.publish.senders import EntryOutcome
from bus.worker.message import Received

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


def delivery(queue: str, message_id: str, kind: str = "Ping", attempt: int = 1) -> Incoming:
    message = Received(message_id, "r", "{}", {}, {"ApproximateReceiveCount": str(attempt)})
    found = Incoming(
        message, queue, attempt, structlog.get_logger(), lambda d, e: Outcome("dead-letter")
    )
    found.envelope = Envelope(
        id=f"e-{message_id}",
        type=kind,
        version=1,
        source="test",
        time=None,
        data={},
        traceparent=PARENT,
    )
    return found


async def consume(tracing: Tracing, found: Incoming) -> None:
    async def handler(d: Incoming) -> None:
        d.outcome = HANDLED

    await tracing.consume(found, handler)
    found.settled(HANDLED, "handled")


def by_message(spans: tuple[ReadableSpan, ...]) -> dict[Any, dict[str, Any]]:
    return {
        (s.attributes or {})["messaging.message.id"]: {"name": s.name, **(s.attributes or {})}
        for s in spans
    }


def test_each_queue_has_its_own_span_name_built_once() -> None:
    consume_half = TracingConsume(trace.NoOpTracer())
    orders, billing = consume_half.queue("orders"), consume_half.queue("billing")
    assert consume_half.queue("orders") is orders  # cached, not rebuilt
    assert orders == "process orders"
    assert billing == "process billing"


async def test_deliveries_on_two_queues_keep_their_own_attributes(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    await consume(tracing, delivery("orders", "m1", "OrderPlaced"))
    await consume(tracing, delivery("billing", "m2", "PaymentCaptured", attempt=3))
    await consume(tracing, delivery("orders", "m3", "OrderCancelled"))
    spans = by_message(exporter.get_finished_spans())
    assert {k: (v["name"], v["messaging.destination.name"]) for k, v in spans.items()} == {
        "m1": ("process orders", "orders"),
        "m2": ("process billing", "billing"),
        "m3": ("process orders", "orders"),
    }
    assert [spans[m]["bus.event.type"] for m in ("m1", "m2", "m3")] == [
        "OrderPlaced",
        "PaymentCaptured",
        "OrderCancelled",
    ]
    assert [spans[m]["bus.attempt"] for m in ("m1", "m2", "m3")] == [1, 3, 1]
    assert [spans[m]["bus.outcome"] for m in ("m1", "m2", "m3")] == ["handled"] * 3
    for span in exporter.get_finished_spans():
        assert span.parent is not None
        assert f"{span.context.trace_id:032x}" == PARENT.split("-")[1]


async def test_the_span_is_current_in_the_handler_and_not_after(tracing: Tracing) -> None:
    seen: list[trace.SpanContext] = []

    async def handler(d: Incoming) -> None:
        seen.append(trace.get_current_span().get_span_context())
        d.outcome = HANDLED

    found = delivery("orders", "m1")
    await tracing.consume(found, handler)
    assert seen[0].is_valid
    assert f"{seen[0].trace_id:032x}" == PARENT.split("-")[1]
    assert not trace.get_current_span().get_span_context().is_valid


async def test_a_sampled_out_delivery_registers_no_settle_hook() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    ran: list[bool] = []

    async def handler(d: Incoming) -> None:
        ran.append(True)
        d.outcome = HANDLED

    found = delivery("orders", "m1")
    await tracing.consume(found, handler)
    assert ran == [True]
    assert found._on_settled is None
    found.settled(HANDLED, "handled")
    assert exporter.get_finished_spans() == ()


def item(name: str, event_id: str, *channels: Channel) -> Any:
    """What the publish middleware reads of a prepared event: its type, id and destinations."""
    return SimpleNamespace(spec=SimpleNamespace(name=name), id=event_id, channels=channels)


def test_publish_attributes_differ_per_type_and_destinations_and_are_reused() -> None:
    publish_half = TracingPublish(trace.NoOpTracer())
    orders, events = Channel("queue", "orders"), Channel("topic", "shop-events")
    one = publish_half._route(item("OrderPlaced", "e1", orders))
    assert publish_half._route(item("OrderPlaced", "e2", orders)) is one
    assert one.name == "publish OrderPlaced"
    assert one.attributes == {
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "bus.event.type": "OrderPlaced",
        "messaging.system": "aws_sqs",
        "messaging.destination.name": "orders",
    }
    other_type = publish_half._route(item("OrderCancelled", "e3", orders))
    assert other_type.name == "publish OrderCancelled"
    assert other_type.attributes["bus.event.type"] == "OrderCancelled"
    both = publish_half._route(item("OrderPlaced", "e4", orders, events))
    assert both.attributes["messaging.destination.name"] == "orders,shop-events"
    assert "messaging.system" not in both.attributes
    assert "bus.event.id" not in one.attributes  # the id is per event, set at its end


class Ping(BaseModel):
    n: int


async def test_an_event_routed_unlike_the_last_of_its_class_gets_its_own_name_and_attributes(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    orders, events = Channel("queue", "orders"), Channel("topic", "shop-events")
    routes = {0: ("Ping", (orders,)), 1: ("Ping", (orders,)), 2: ("Pong", (events,))}

    for n, (name, channels) in routes.items():
        prepared = item(name, f"e{n}", *channels)
        prepared.index = n

        async def prepare(outgoing: Outgoing, prepared: Any = prepared) -> None:
            outgoing.prepared = prepared

        async def send(batch: OutgoingBatch, n: int = n) -> None:
            batch.outcomes = [EntryOutcome(str(n), message_id=f"m{n}")]

        await tracing.publish.event(Outgoing(Ping(n=n), n), prepare)
        await tracing.publish.batch(OutgoingBatch(channels[0], [prepared]), send)
    spans = {
        (s.attributes or {})["bus.event.id"]: s
        for s in exporter.get_finished_spans()
        if s.kind is trace.SpanKind.PRODUCER
    }
    assert {k: s.name for k, s in spans.items()} == {
        "e0": "publish Ping",
        "e1": "publish Ping",
        "e2": "publish Pong",
    }
    pong = dict(spans["e2"].attributes or {})
    assert pong["bus.event.type"] == "Pong"
    assert pong["messaging.destination.name"] == "shop-events"
    assert pong["messaging.system"] == "aws.sns"
    assert [(spans[k].attributes or {})["messaging.message.id"] for k in ("e0", "e1", "e2")] == [
        "m0",
        "m1",
        "m2",
    ]
    assert (spans["e1"].attributes or {})["messaging.destination.name"] == "orders"
