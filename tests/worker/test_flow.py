"""The worker end to end on the emulator: routes, retries, dead letters, heartbeat, context, logs.

One topology is applied for the whole module; each test runs a worker over it and tells its own
messages apart by a unique key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from bus.aws import AwsClients
from bus.aws.failure import read_failure
from bus.envelope import encode_body, new_envelope
from bus.worker import Stats
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: wflow
topics:
  pings: {}
queues:
  raw: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  enveloped: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  ruled: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
  direct: {visibility_timeout: 5, dead_letter: {max_receive_count: 2}}
  slow: {visibility_timeout: 2, dead_letter: {max_receive_count: 2}}
  once: {visibility_timeout: 5}
  pongs: {visibility_timeout: 5}
subscriptions:
  - {topic: pings, queue: raw, raw_message_delivery: true}
  - {topic: pings, queue: enveloped}
buses:
  pings-bus: {}
rules:
  pings-rule:
    bus: pings-bus
    event_pattern: {source: [wflow], detail-type: [Ping]}
    targets: [{queue: ruled}]
events:
  Ping:
    model: tests.worker.apps:Ping
    publish_to: [{topic: pings}, {bus: pings-bus}]
    attributes: [behaviour]
  DirectPing: {model: tests.worker.apps:DirectPing, publish_to: [{queue: direct}]}
  SlowPing: {model: tests.worker.apps:SlowPing, publish_to: [{queue: slow}]}
  OncePing: {model: tests.worker.apps:OncePing, publish_to: [{queue: once}]}
  Unbound: {model: tests.worker.apps:Unbound, publish_to: [{queue: direct}]}
  Pong: {model: tests.worker.apps:Pong, publish_to: [{queue: pongs}]}
handlers:
  raw:
    events: {Ping: "tests.worker.apps:echo_pong"}
    pollers: 2
  enveloped:
    events: {Ping: "tests.worker.apps:record"}
  ruled:
    events: {Ping: "tests.worker.apps:record"}
  direct:
    events: {DirectPing: "tests.worker.apps:record"}
    retry:
      attempts: 2
      transient: ["tests.worker.apps:Transient"]
      in_process: {initial: 0.01, maximum: 0.05}
      redelivery: {initial: 0, maximum: 0}
  slow:
    events: {SlowPing: "tests.worker.apps:record"}
  once:
    idempotent: true
    events: {OncePing: "tests.worker.apps:record"}
  pongs:
    events: {Pong: "tests.worker.apps:record_pong"}
"""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("flow"), new_env())


def key() -> str:
    return "k" + uuid.uuid4().hex[:10]


async def test_routes_sns_raw_sns_enveloped_and_eventbridge(applied: Applied) -> None:
    k = key()
    stats = Stats()
    async with applied.running(stats):
        result = await applied.publisher().publish(apps.Ping(key=k))
        await wait_for(lambda: {c.queue for c in apps.calls(k)} == {"raw", "enveloped", "ruled"})
    event_ids = {c.event_id for c in apps.calls(k)}
    assert event_ids == {result.event_id}
    assert all(c.attempt == 1 and c.try_number == 1 for c in apps.calls(k))
    for queue in ("raw", "enveloped", "ruled"):
        assert stats.queue(queue).processed >= 1
        assert await applied.depth(queue) == 0


async def test_handler_context_publishes_in_the_same_flow(applied: Applied) -> None:
    k = key()
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with applied.running():
        sent = await applied.publisher().publish(
            apps.Ping(key=k), correlation_id="flow-1", traceparent=trace
        )
        await wait_for(lambda: len(apps.calls(f"pong-{k}")) == 1)
    ping = next(c for c in apps.calls(k) if c.queue == "raw")
    pong = apps.calls(f"pong-{k}")[0]
    assert (ping.correlation_id, ping.traceparent) == ("flow-1", trace)
    assert (pong.correlation_id, pong.causation_id, pong.traceparent) == (
        "flow-1",
        sent.event_id,
        trace,
    )


async def test_transient_error_succeeds_on_an_in_process_retry(applied: Applied) -> None:
    k = key()
    stats = Stats()
    async with applied.running(stats):
        await applied.publisher().publish(apps.DirectPing(key=k, behaviour="transient-once"))
        await wait_for(lambda: len(apps.calls(k)) == 1)
    (call,) = apps.calls(k)
    assert (call.attempt, call.try_number) == (1, 2)
    assert stats.queue("direct").retried == 1
    assert stats.queue("direct").redelivered == 0


@pytest.mark.parametrize("behaviour", ["fail-once", "retry-once"])
async def test_failure_is_redelivered_and_then_succeeds(applied: Applied, behaviour: str) -> None:
    k = key()
    stats = Stats()
    async with applied.running(stats):
        await applied.publisher().publish(apps.DirectPing(key=k, behaviour=behaviour))
        await wait_for(lambda: len(apps.calls(k)) == 1)
    assert apps.calls(k)[0].attempt == 2
    assert stats.queue("direct").redelivered == 1
    assert stats.queue("direct").dead_lettered == 0
    assert await applied.depth("direct") == 0


async def test_permanent_failure_reaches_the_dlq_after_max_receives(applied: Applied) -> None:
    k = key()
    stats = Stats()
    async with applied.running(stats):
        sent = await applied.publisher().publish(apps.DirectPing(key=k, behaviour="fail"))
        await wait_for(lambda: stats.queue("direct").dead_lettered == 1)
    assert apps.TRIES[k] == 2  # once per receive: max_receive_count is 2, no in-process retry
    assert apps.calls(k) == []
    (dead,) = await applied.drain("direct-dlq")
    failure = read_failure(dead["MessageAttributes"]["bus.failure"]["StringValue"])
    assert failure.reason == "handler-error"
    assert failure.error_type == "tests.worker.apps.Permanent"
    assert failure.error == f"{k}: always fails"
    assert failure.attempt == 2
    assert failure.queue == f"{applied.env}-direct"
    assert failure.first_failed_at <= failure.failed_at
    assert dead["MessageAttributes"]["event_type"]["StringValue"] == "DirectPing"
    assert dead["MessageAttributes"]["event_version"]["StringValue"] == "1"
    assert json.loads(dead["Body"])["id"] == sent.event_id
    assert await applied.depth("direct") == 0


async def test_rejected_message_goes_to_the_dlq_at_once(applied: Applied) -> None:
    k = key()
    stats = Stats()
    async with applied.running(stats):
        await applied.publisher().publish(apps.DirectPing(key=k, behaviour="reject"))
        await wait_for(lambda: stats.queue("direct").dead_lettered == 1)
    (dead,) = await applied.drain("direct-dlq")
    failure = read_failure(dead["MessageAttributes"]["bus.failure"]["StringValue"])
    assert (failure.reason, failure.attempt, failure.error) == (
        "rejected",
        1,
        f"{k}: rejected on purpose",
    )


def _envelope_body(applied: Applied, event_type: str, data: dict[str, object]) -> str:
    spec = applied.registry.spec(event_type)
    env = new_envelope(spec, apps.Unbound(key="x"))
    return encode_body(env.__class__(**{**env.__dict__, "data": data}))


async def test_invalid_messages_reach_the_dlq_at_once_unhandled(applied: Applied) -> None:
    k = key()
    bodies = {
        "decode-error": "this is not json",
        "validation-error": _envelope_body(applied, "DirectPing", {"behaviour": "ok"}),
        "unknown-event": _envelope_body(applied, "Unbound", {"key": k}).replace(
            '"type":"Unbound"', '"type":"Nope"'
        ),
        "no-handler": _envelope_body(applied, "Unbound", {"key": k}),
    }
    url = await applied.queue_url("direct")
    sent = {}
    for reason, body in bodies.items():
        answer = await applied.aws.sqs.send_message(QueueUrl=url, MessageBody=body)
        sent[answer["MessageId"]] = reason
    stats = Stats()
    async with applied.running(stats):
        await wait_for(lambda: stats.queue("direct").dead_lettered == len(bodies))
    assert stats.queue("direct").processed == 0
    assert stats.queue("direct").redelivered == 0
    dead = await applied.drain("direct-dlq")
    found = {}
    for message in dead:
        failure = read_failure(message["MessageAttributes"]["bus.failure"]["StringValue"])
        assert failure.attempt == 1
        assert message["Body"] == bodies[failure.reason]
        found[failure.message_id] = failure.reason
    assert found == sent
    assert await applied.depth("direct") == 0


async def test_heartbeat_keeps_a_slow_handler_from_being_redelivered(applied: Applied) -> None:
    k = key()
    stats = Stats()
    async with applied.running(stats) as worker:
        await applied.publisher().publish(apps.SlowPing(key=k, behaviour="slow:5"))
        await wait_for(lambda: len(apps.calls(k)) == 1, within=20)
        heartbeat = worker.consumers[worker.queues.index("slow")].heartbeat
        assert heartbeat.extensions >= 2
    assert apps.TRIES[k] == 1  # visibility timeout 2 s, handler 5 s: never delivered twice
    assert stats.queue("slow").received == 1
    assert await applied.depth("slow") == 0


async def test_process_concurrency_caps_all_queues_together(applied: Applied) -> None:
    k = key()
    apps.PEAK_TOTAL[0] = 0
    async with applied.running(concurrency=2):
        publisher = applied.publisher()
        for i in range(3):
            await publisher.publish(apps.DirectPing(key=f"{k}-d{i}", behaviour="slow:0.4"))
            await publisher.publish(apps.SlowPing(key=f"{k}-s{i}", behaviour="slow:0.4"))
        await wait_for(lambda: len(apps.keys_handled(k)) == 6, within=20)
    assert 1 <= apps.PEAK_TOTAL[0] <= 2


async def test_idempotent_binding_skips_an_event_it_already_handled(applied: Applied) -> None:
    k = key()
    body = _envelope_body(applied, "OncePing", {"key": k})
    url = await applied.queue_url("once")
    stats = Stats()
    async with applied.running(stats):
        await applied.aws.sqs.send_message(QueueUrl=url, MessageBody=body)
        await wait_for(lambda: len(apps.calls(k)) == 1)
        await applied.aws.sqs.send_message(QueueUrl=url, MessageBody=body)  # same event id
        await wait_for(lambda: stats.queue("once").duplicates == 1)
    assert len(apps.calls(k)) == 1
    assert await applied.depth("once") == 0


async def test_delivery_log_lines_carry_the_delivery_fields(applied: Applied) -> None:
    k = key()
    stats = Stats()
    with capture_logs() as logs:
        async with applied.running(stats):
            sent = await applied.publisher().publish(
                apps.DirectPing(key=k, behaviour="fail"), correlation_id="corr-logs"
            )
            await wait_for(lambda: stats.queue("direct").dead_lettered == 1)
    await applied.drain("direct-dlq")
    mine = [e for e in logs if e.get("event_id") == sent.event_id]
    assert {e["event"] for e in mine} >= {"handler failed; redelivering later", "dead-lettered"}
    for entry in mine:
        assert entry["queue"] == "direct"
        assert entry["event_type"] == "DirectPing"
        assert entry["correlation_id"] == "corr-logs"
        assert entry["attempt"] in (1, 2)
        assert entry["message_id"]
    assert not any("body" in e for e in logs if e["log_level"] in ("info", "warning", "error"))
