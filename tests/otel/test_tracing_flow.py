"""One trace per flow, against the emulator: SNS raw and wrapped delivery, EventBridge to SQS, a
handler's follow-up event, FIFO, an in-process retry, a redelivery, a dead letter and its redrive,
an X-Ray producer. Spans are collected in memory; parents and links are asserted by id. Each flow
runs twice, bus's spans made on the light path (bus.otel.light) and then on the SDK's, and
the spans of its traces must be the same field by field (ids and times by their relations)."""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind
from rich.console import Console

from bus.aws import AwsClients
from bus.cli.trace import flow_tree, load_spans
from bus.dlq.redrive import RedriveOptions, redrive_selected
from bus.dlq.select import Selection
from bus.envelope import encode_body, new_envelope
from bus.otel import TracingConsume, TracingPublish, instrumentation
from bus.otel.record import JsonLinesExporter
from bus.publish.publisher import Publisher
from bus.worker import Worker, WorkerOptions, WorkerParts
from tests.otel.exported import shapes
from tests.worker import apps
from tests.worker.conftest import ROOT, Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: otrace
topics:
  pings: {}
queues:
  raw: {visibility_timeout: 5}
  enveloped: {visibility_timeout: 5}
  ruled: {visibility_timeout: 5}
  pongs: {visibility_timeout: 5}
  direct: {visibility_timeout: 5, dead_letter: {max_receive_count: 2}}
  seq.fifo: {fifo: true, visibility_timeout: 5}
subscriptions:
  - {topic: pings, queue: raw, raw_message_delivery: true}
  - {topic: pings, queue: enveloped}
buses:
  pings-bus: {}
rules:
  pings-rule:
    bus: pings-bus
    event_pattern: {source: [otrace], detail-type: [Ping]}
    targets: [{queue: ruled}]
events:
  Ping:
    model: tests.worker.apps:Ping
    publish_to: [{topic: pings}, {bus: pings-bus}]
  DirectPing: {model: tests.worker.apps:DirectPing, publish_to: [{queue: direct}]}
  Pong: {model: tests.worker.apps:Pong, publish_to: [{queue: pongs}]}
  Seq:
    model: tests.worker.apps:Seq
    publish_to: [{queue: seq.fifo}]
    message_group_id: group
handlers:
  raw: {events: {Ping: "tests.worker.apps:echo_pong"}}
  enveloped: {events: {Ping: "tests.worker.apps:record"}}
  ruled: {events: {Ping: "tests.worker.apps:record"}}
  pongs: {events: {Pong: "tests.worker.apps:record_pong"}}
  direct:
    events: {DirectPing: "tests.worker.apps:record"}
    retry:
      attempts: 2
      transient: ["tests.worker.apps:Transient"]
      in_process: {initial: 0.01, maximum: 0.05}
      redelivery: {initial: 0, maximum: 0}
  seq.fifo:
    events: {Seq: "tests.worker.apps:apply_seq"}
    retry: {attempts: 1, redelivery: {initial: 0, maximum: 0}}
"""

EXPORTER = InMemorySpanExporter()
RECORDED = Path(tempfile.mkdtemp()) / "traces.jsonl"
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
PROVIDER.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(RECORDED)))


@pytest.fixture(scope="module", autouse=True)
def global_provider() -> Iterator[None]:
    """The redrive's span comes from the global provider (as under opentelemetry-instrument)."""
    trace.set_tracer_provider(PROVIDER)
    return


@pytest_asyncio.fixture(scope="module")
async def module_aws(bus_settings) -> AsyncIterator[AwsClients]:  # type: ignore[no-untyped-def]
    async with AwsClients(bus_settings) as clients:
        yield clients


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("otel"), new_env())


LIGHT = instrumentation(tracer_provider=PROVIDER)
SDK = instrumentation(tracer_provider=PROVIDER, light=False)
OTEL = LIGHT
"""The instrumentation of the flow running now (``on_both_paths`` sets it)."""


async def on_both_paths(flow: Callable[[], Awaitable[list[ReadableSpan]]]) -> None:
    """``flow`` on the light path, then on the SDK's: the spans it gives must have one shape."""
    global OTEL
    (consume,), (publish,) = LIGHT.consume, LIGHT.publish
    assert isinstance(consume, TracingConsume)
    assert isinstance(publish, TracingPublish)
    assert consume.spans.sdk() is not None  # this provider allows the light path
    assert publish.spans.sdk() is not None
    found = []
    for otel in (LIGHT, SDK):
        OTEL = otel
        EXPORTER.clear()
        try:
            found.append(shapes(await flow()))
        finally:
            OTEL = LIGHT
    light, sdk = found
    assert len(light) == len(sdk)
    for one, other in zip(light, sdk, strict=True):
        assert one == other, f"light:\n{one}\nsdk:\n{other}"


def of_traces(*producers: ReadableSpan) -> list[ReadableSpan]:
    """The finished spans of the traces ``producers`` belong to, and those linking to them (the
    AWS calls that carried their events)."""
    traces = {p.context.trace_id for p in producers}
    return [
        s
        for s in EXPORTER.get_finished_spans()
        if s.context.trace_id in traces or any(k.context.trace_id in traces for k in s.links)
    ]


def publisher(applied: Applied) -> Publisher:
    return Publisher(
        applied.aws, applied.registry, applied.topology, applied.env, middleware=OTEL.publish
    )


@asynccontextmanager
async def running(applied: Applied) -> AsyncIterator[Worker]:
    worker = Worker(
        applied.aws,
        applied.topology,
        env=applied.env,
        base_dir=ROOT,
        options=WorkerOptions(wait_seconds=1, shutdown_grace=10),
        parts=WorkerParts(registry=applied.registry),
        middleware=OTEL.consume,
        publish_middleware=OTEL.publish,
    )
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


def spans(**attributes: object) -> list[ReadableSpan]:
    return [
        s
        for s in EXPORTER.get_finished_spans()
        if all((s.attributes or {}).get(k) == v for k, v in attributes.items())
    ]


def processed(event_id: str) -> list[ReadableSpan]:
    return spans(**{"bus.event.id": event_id, "messaging.operation.type": "process"})


def produced(event_id: str) -> ReadableSpan:
    (span,) = [s for s in spans(**{"bus.event.id": event_id}) if s.kind == SpanKind.PRODUCER]
    return span


def child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        span.parent is not None
        and span.parent.span_id == parent.context.span_id
        and span.context.trace_id == parent.context.trace_id
    )


def key() -> str:
    return "k" + uuid.uuid4().hex[:10]


async def test_one_trace_across_sns_raw_sns_wrapped_eventbridge_and_a_follow_up(
    applied: Applied,
) -> None:
    async def flow() -> list[ReadableSpan]:
        k = key()
        async with running(applied):
            sent = await publisher(applied).publish(apps.Ping(key=k))
            await wait_for(lambda: len(processed(sent.event_id)) == 3)
            await wait_for(lambda: len(apps.calls(f"pong-{k}")) == 1)
            pong_id = apps.calls(f"pong-{k}")[0].event_id
            await wait_for(lambda: len(processed(pong_id)) == 1)

        ping = produced(sent.event_id)
        assert ping.parent is None
        assert ping.name == "publish Ping"
        consumers = {
            s.attributes["messaging.destination.name"]: s for s in processed(sent.event_id)
        }
        assert set(consumers) == {"raw", "enveloped", "ruled"}
        for span in consumers.values():
            assert span.kind == SpanKind.CONSUMER
            assert child_of(span, ping)
            assert span.attributes["bus.outcome"] == "handled"
            assert span.attributes["bus.attempt"] == 1
        # the handler's follow-up event is a child of the process span that published it
        pong = produced(pong_id)
        assert child_of(pong, consumers["raw"])
        (pong_consumer,) = processed(pong_id)
        assert child_of(pong_consumer, pong)
        # the envelope carried the producer span's context
        (call,) = [c for c in apps.calls(k) if c.queue == "enveloped"]
        assert call.traceparent is not None
        assert (
            call.traceparent[:52] == f"00-{ping.context.trace_id:032x}-{ping.context.span_id:016x}"
        )
        # each AWS call is a span linking the events it carried
        sends = [
            s for s in spans(**{"messaging.operation.type": "send"}) if s.kind == SpanKind.CLIENT
        ]
        carried = [s for s in sends if any(link.context == ping.context for link in s.links)]
        assert {s.attributes["messaging.operation.name"] for s in carried} == {
            "PublishBatch",
            "PutEvents",
        }
        assert {s.attributes["messaging.system"] for s in carried} == {"aws.sns", "aws_eventbridge"}
        # bus trace's tree of the recorded spans: the flow, nested as it happened
        head, *lines = tree_text(sent.event_id).splitlines()[1:]
        assert head == f"trace {ping.context.trace_id:032x}"
        nodes = [nested(line) for line in lines]
        assert nodes[0] == (1, "Ping → pings,pings-bus")
        assert sorted(nodes[1:]) == [
            (2, "enveloped: handled"),
            (2, "raw: handled"),
            (2, "ruled: handled"),
            (3, "Pong → pongs"),
            (4, "pongs: handled"),
        ]
        raw = nodes.index((2, "raw: handled"))
        assert nodes[raw + 1 : raw + 3] == [(3, "Pong → pongs"), (4, "pongs: handled")]
        return of_traces(ping)

    await on_both_paths(flow)


def nested(line: str) -> tuple[int, str]:
    """(depth, text) of one line of a rich tree: each level is 4 characters of drawing."""
    text = line.split("  +")[0]
    body = text.lstrip(" │├└─")
    return (len(text) - len(body)) // 4, body


def tree_text(event_id: str) -> str:
    tree = flow_tree(load_spans(RECORDED), event_id)
    assert tree is not None
    console = Console(file=io.StringIO(), width=200)
    console.print(tree)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


async def test_a_retry_a_redelivery_a_dead_letter_and_a_redrive_stay_in_one_trace(
    applied: Applied,
) -> None:
    async def flow() -> list[ReadableSpan]:
        k1, k2 = key(), key()
        async with running(applied):
            once = await publisher(applied).publish(
                apps.DirectPing(key=k1, behaviour="transient-once")
            )
            dead = await publisher(applied).publish(apps.DirectPing(key=k2, behaviour="fail"))
            await wait_for(lambda: len(processed(once.event_id)) == 1)
            await wait_for(lambda: len(processed(dead.event_id)) == 2)
            only_dead = RedriveOptions(selection=Selection(event_ids=frozenset({dead.event_id})))
            report = await redrive_selected(
                applied.aws, "direct-dlq", topology=applied.topology, env=applied.env,
                options=only_dead,
            )  # fmt: skip
            assert report.moved >= 1  # its dead letter (a second copy only if a delete was late)
            await wait_for(lambda: len(processed(dead.event_id)) >= 3)

        (retried,) = processed(once.event_id)
        assert child_of(retried, produced(once.event_id))
        assert [e.name for e in retried.events].count("retry") == 1
        assert retried.attributes["bus.outcome"] == "handled"

        producer = produced(dead.event_id)
        ordered = sorted(processed(dead.event_id), key=lambda s: s.start_time or 0)
        first, second, again = ordered[:3]  # the redriven copy fails again: more may follow
        for span in (first, second, again):
            assert child_of(span, producer)  # the redriven copy continues the original trace
        assert (first.attributes["bus.attempt"], second.attributes["bus.attempt"]) == (1, 2)
        assert first.attributes["bus.outcome"] == "redeliver"
        assert "redeliver" in [e.name for e in first.events]
        assert second.attributes["bus.outcome"] == "dead-letter"
        (moved,) = [e for e in second.events if e.name == "dead-letter"]
        assert moved.attributes == {
            "reason": "handler-error",
            "error.type": "Permanent",
            "moved": True,
        }
        (redrive,) = [s for s in EXPORTER.get_finished_spans() if s.name.startswith("redrive ")]
        ids = producer.context.trace_id, producer.context.span_id
        assert {(link.context.trace_id, link.context.span_id) for link in redrive.links} == {ids}
        dead_trace = [s for s in of_traces(producer) if s not in ordered[3:]]
        spans = [*of_traces(produced(once.event_id)), *dead_trace, redrive]
        distinct = {(k.context.trace_id, k.context.span_id): k for k in redrive.links}
        if len(distinct) < len(redrive.links):  # a late delete left two copies, one link each:
            one = _with_links(redrive, list(distinct.values()))  # the paths compare one
            spans = [one if s is redrive else s for s in spans]
        return spans

    await on_both_paths(flow)


def _with_links(span: ReadableSpan, links: list[Link]) -> ReadableSpan:
    """``span`` as it was exported, with ``links`` instead of its own."""
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=span.attributes, events=span.events, links=links, kind=span.kind,
        status=span.status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )  # fmt: skip


async def test_fifo_and_an_x_ray_producer(applied: Applied) -> None:
    async def flow() -> list[ReadableSpan]:
        k = key()
        xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        env = new_envelope(applied.registry.spec("DirectPing"), apps.DirectPing(key=k))
        async with running(applied):
            sent = await publisher(applied).publish(apps.Seq(group="g1", n=0, key=key()))
            await applied.aws.sqs.send_message(
                QueueUrl=await applied.queue_url("direct"),
                MessageBody=encode_body(env),
                MessageSystemAttributes={
                    "AWSTraceHeader": {"DataType": "String", "StringValue": xray}
                },
            )
            await wait_for(lambda: len(processed(sent.event_id)) == 1)
            await wait_for(lambda: len(processed(env.id)) == 1)

        (fifo,) = processed(sent.event_id)
        assert child_of(fifo, produced(sent.event_id))
        assert fifo.attributes["messaging.aws_sqs.message_group_id"] == "g1"
        (continued,) = processed(env.id)
        assert f"{continued.context.trace_id:032x}" == "5759e988bd862e3fe1be46a994272793"
        assert continued.parent is not None
        assert f"{continued.parent.span_id:016x}" == "53995c3f42cd8ad8"
        return [*of_traces(produced(sent.event_id)), continued]

    await on_both_paths(flow)
