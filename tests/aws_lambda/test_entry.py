"""The Lambda entry point against the emulator: messages received from LocalStack, turned into the
SQS event an event source mapping delivers (``bus.aws_lambda.event_of``), through the entry point;
what it reports and what it did to the queue and its DLQ are read back from LocalStack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from bus.aws import AwsClients
from bus.aws.failure import read_failure
from bus.aws_lambda import LambdaConsumer, LambdaHandler, event_of, handler_for
from bus.aws_lambda.entry import forget
from bus.errors import ConfigError
from bus.settings import Settings
from bus.worker import Worker, WorkerOptions, WorkerParts
from tests.worker import apps
from tests.worker.conftest import ROOT, Applied, apply_topology, new_env

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: lam
queues:
  lam: {visibility_timeout: 30, dead_letter: {max_receive_count: 2}}
  lam.fifo: {fifo: true, visibility_timeout: 30, dead_letter: {max_receive_count: 5}}
  lamonce: {visibility_timeout: 30, dead_letter: {max_receive_count: 5}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: lam}]}
  OncePing: {model: tests.worker.apps:OncePing, publish_to: [{queue: lamonce}]}
  GroupPing:
    model: tests.worker.apps:GroupPing
    publish_to: [{queue: lam.fifo}]
    message_group_id: group
handlers:
  lam:
    events: {Ping: "tests.worker.apps:record"}
    concurrency: 1
    retry: {attempts: 1, redelivery: {initial: 1, maximum: 1, jitter: false}}
  lam.fifo:
    events: {GroupPing: "tests.worker.apps:record"}
    retry: {attempts: 1, redelivery: {initial: 1, maximum: 1, jitter: false}}
  lamonce:
    events: {OncePing: "tests.worker.apps:record"}
    idempotent: true
"""


class Remaining:
    """A Lambda context whose remaining time is ``plenty`` ms for the first ``calls`` asks, then
    ``short``."""

    def __init__(self, calls: int, plenty: int = 60_000, short: int = 500) -> None:
        self.calls, self.plenty, self.short, self.asked = calls, plenty, short, 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return self.plenty if self.asked <= self.calls else self.short


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("lam"), new_env())


async def consumer(applied: Applied, queue: str) -> LambdaConsumer:
    worker = Worker(
        applied.aws,
        applied.topology,
        env=applied.env,
        base_dir=ROOT,
        options=WorkerOptions(queues=(queue,)),
        parts=WorkerParts(registry=applied.registry, publisher=applied.publisher()),
    )
    return await LambdaConsumer.open(worker, queue)


async def receive(applied: Applied, queue: str, count: int, wait: int = 5) -> list[dict[str, Any]]:
    """Receive ``count`` messages as an event source mapping does (all attributes)."""
    url = await applied.queue_url(queue)
    out: list[dict[str, Any]] = []
    for _ in range(count * 2):
        answer = await applied.aws.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, count - len(out)),
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        out.extend(dict(m) for m in answer.get("Messages", []))
        if len(out) >= count:
            break
    assert len(out) == count, f"received {len(out)} of {count}"
    return out


async def event(applied: Applied, queue: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    account = (await applied.aws.account()).account_id
    arn = f"arn:aws:sqs:{applied.aws.region}:{account}:{queue_name(applied, queue)}"
    return event_of(messages, arn, applied.aws.region)


def queue_name(applied: Applied, queue: str) -> str:
    return applied.url(queue).rsplit("/", 1)[-1]


def failures(response: Mapping[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def key() -> str:
    return "l" + uuid.uuid4().hex[:10]


async def test_a_handled_record_is_reported_a_success(applied: Applied) -> None:
    k = key()
    await applied.publisher().publish(apps.Ping(key=k))
    messages = await receive(applied, "lam", 1)
    assert messages[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    response = await (await consumer(applied, "lam")).handle(
        await event(applied, "lam", messages), Remaining(10)
    )
    assert response == {"batchItemFailures": []}
    (call,) = apps.calls(k)
    assert call.attempt == 1
    assert call.event_id  # the envelope decoded from the record


async def test_a_failure_is_retried_after_its_backoff_then_dead_lettered_on_the_last_receive(
    applied: Applied,
) -> None:
    k = key()
    await applied.publisher().publish(apps.Ping(key=k, behaviour="fail"))
    lam = await consumer(applied, "lam")
    first = await receive(applied, "lam", 1)
    response = await lam.handle(await event(applied, "lam", first), Remaining(10))
    assert failures(response) == [first[0]["MessageId"]]
    # the visibility was set to the 1 s backoff: back well before the 30 s visibility timeout
    second = await receive(applied, "lam", 1, wait=10)
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"  # max_receive_count
    response = await lam.handle(await event(applied, "lam", second), Remaining(10))
    assert response == {"batchItemFailures": []}  # in the DLQ: the mapping may delete it
    (copy,) = await receive(applied, "lam-dlq", 1)
    failure = read_failure(copy["MessageAttributes"]["bus.failure"]["StringValue"])
    assert failure is not None
    assert (failure.reason, failure.attempt) == ("handler-error", 2)
    assert failure.message_id == first[0]["MessageId"]
    assert starts(k) == 2
    assert apps.calls(k) == []


def starts(k: str) -> int:
    """How many times the handler started on ``k``'s event, failed tries included."""
    return len(apps.STARTS.get(k, []))


async def test_a_rejected_record_goes_to_the_dlq_at_once(applied: Applied) -> None:
    k = key()
    await applied.publisher().publish(apps.Ping(key=k, behaviour="reject"))
    messages = await receive(applied, "lam", 1)
    response = await (await consumer(applied, "lam")).handle(
        await event(applied, "lam", messages), None
    )
    assert response == {"batchItemFailures": []}
    (copy,) = await receive(applied, "lam-dlq", 1)
    failure = read_failure(copy["MessageAttributes"]["bus.failure"]["StringValue"])
    assert failure is not None
    assert (failure.reason, failure.attempt) == ("rejected", 1)


async def test_an_undecodable_record_goes_to_the_dlq(applied: Applied) -> None:
    url = await applied.queue_url("lam")
    await applied.aws.sqs.send_message(QueueUrl=url, MessageBody="not json at all")
    messages = await receive(applied, "lam", 1)
    response = await (await consumer(applied, "lam")).handle(
        await event(applied, "lam", messages), None
    )
    assert response == {"batchItemFailures": []}
    (copy,) = await receive(applied, "lam-dlq", 1)
    failure = read_failure(copy["MessageAttributes"]["bus.failure"]["StringValue"])
    assert failure is not None
    assert failure.reason == "decode-error"
    assert copy["Body"] == "not json at all"


async def test_fifo_a_failed_record_holds_back_the_rest_of_its_group_in_order(
    applied: Applied,
) -> None:
    g, h = key(), key()
    publisher = applied.publisher()
    await publisher.publish(apps.GroupPing(key=f"{g}-1", behaviour="fail-once", group=g))
    await publisher.publish(apps.GroupPing(key=f"{g}-2", group=g))
    await publisher.publish(apps.GroupPing(key=f"{h}-1", group=h))
    await publisher.publish(apps.GroupPing(key=f"{g}-3", group=g))
    lam = await consumer(applied, "lam.fifo")
    messages = await receive(applied, "lam.fifo", 4)
    by_key = {m["Body"].split('"key":"')[1].split('"')[0]: m["MessageId"] for m in messages}
    response = await lam.handle(await event(applied, "lam.fifo", messages), Remaining(10))
    held = [by_key[f"{g}-1"], by_key[f"{g}-2"], by_key[f"{g}-3"]]
    assert failures(response) == [mid for mid in (m["MessageId"] for m in messages) if mid in held]
    assert len(apps.calls(f"{h}-1")) == 1  # the other group went on
    assert apps.STARTS.get(f"{g}-2") is None  # never started behind the failure
    # the group comes back after the 1 s backoff, in its order, and is handled
    again = await receive(applied, "lam.fifo", 3, wait=10)
    assert [m["MessageId"] for m in again] == held
    response = await lam.handle(await event(applied, "lam.fifo", again), Remaining(10))
    assert response == {"batchItemFailures": []}
    done = [c.key for c in apps.CALLS if c.key.startswith(g)]
    assert done == [f"{g}-1", f"{g}-2", f"{g}-3"]


async def test_records_are_not_started_when_the_remaining_time_runs_short(
    applied: Applied,
) -> None:
    keys = [key() for _ in range(3)]
    for k in keys:
        await applied.publisher().publish(apps.Ping(key=k))
    messages = await receive(applied, "lam", 3)
    lam = await consumer(applied, "lam")  # concurrency 1: one record after another
    response = await lam.handle(await event(applied, "lam", messages), Remaining(calls=1))
    started = [k for k in keys if apps.calls(k)]
    assert len(started) == 1
    assert len(failures(response)) == 2
    # the two not started were made visible again at once (not after the 30 s timeout)
    back = await receive(applied, "lam", 2, wait=2)
    assert {m["MessageId"] for m in back} == set(failures(response))


async def test_an_idempotent_queue_skips_a_redelivered_record_already_handled(
    applied: Applied,
) -> None:
    k = key()
    await applied.publisher().publish(apps.OncePing(key=k))
    lam = await consumer(applied, "lamonce")
    first = await receive(applied, "lamonce", 1)
    assert await lam.handle(await event(applied, "lamonce", first), None) == {
        "batchItemFailures": []
    }
    # as if the function had died after the handler: the record comes back
    url = await applied.queue_url("lamonce")
    await applied.aws.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    second = await receive(applied, "lamonce", 1)
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert await lam.handle(await event(applied, "lamonce", second), None) == {
        "batchItemFailures": []
    }
    assert len(apps.calls(k)) == 1
    assert lam.scope.stats.duplicates == 1


async def test_a_record_from_another_queue_is_refused(applied: Applied) -> None:
    k = key()
    await applied.publisher().publish(apps.Ping(key=k))
    messages = await receive(applied, "lam", 1)
    with pytest.raises(Exception, match="reached the entry point of queue"):
        await (await consumer(applied, "lamonce")).handle(
            await event(applied, "lam", messages), None
        )
    assert apps.calls(k) == []


async def test_an_event_that_is_not_from_sqs_fails_the_invocation_touching_nothing(
    applied: Applied,
) -> None:
    k = key()
    await applied.publisher().publish(apps.Ping(key=k))
    (message,) = await receive(applied, "lam", 1)
    real = await event(applied, "lam", [message])
    (record,) = real["Records"]
    lam = await consumer(applied, "lam")
    for wrong in ({}, {"Records": [{**record, "eventSource": None}]}, None):
        with pytest.raises(ConfigError, match="not an SQS"):
            await lam.handle(wrong, None)  # type: ignore[arg-type]
    assert apps.calls(k) == []
    assert await lam.handle(real, None) == {"batchItemFailures": []}  # the message was untouched
    assert len(apps.calls(k)) == 1


async def test_handler_for_loads_once_per_container_and_reports_its_cold_start(
    applied: Applied, bus_settings: Settings
) -> None:
    forget()
    settings = bus_settings.model_copy(update={"env": applied.env, "topology_path": applied.path})
    keys = [key(), key()]
    events = []
    for k in keys:  # one event per invocation: the second finds the container warm
        await applied.publisher().publish(apps.Ping(key=k))
        events.append(await event(applied, "lam", await receive(applied, "lam", 1)))

    def run() -> tuple[LambdaHandler, list[dict[str, Any]], float | None]:
        handler = handler_for("lam", settings=settings)
        try:
            first = handler(events[0], Remaining(10))
            cold = handler.cold_start
            assert handler_for("lam", settings=settings) is handler  # cached per container
            return handler, [first, handler(events[1], Remaining(10))], cold
        finally:
            handler.close()

    with capture_logs() as logs:
        handler, responses, cold = await asyncio.to_thread(run)
    forget()
    assert responses == [{"batchItemFailures": []}] * 2
    assert cold is not None
    assert cold > 0
    assert handler.cold_start == cold  # measured once
    (ready,) = [e for e in logs if e["event"] == "lambda ready"]
    assert ready["cold_start_ms"] == round(cold * 1000, 1)
    assert [c.key for k in keys for c in apps.calls(k)] == keys


async def test_a_handler_never_closed_is_closed_at_exit(
    applied: Applied, bus_settings: Settings
) -> None:
    """A script that calls the entry point as Lambda does and ends without ``close()``: the
    handler is closed at exit, so the interpreter does not print aiohttp's "Unclosed client
    session" and "Unclosed connector" for its clients' connections."""
    k = key()
    await applied.publisher().publish(apps.Ping(key=k))
    payload = json.dumps(await event(applied, "lam", await receive(applied, "lam", 1)))
    script = (
        "import json, sys\n"
        "import bus\n"
        "handler = bus.handler_for('lam')\n"
        "print(json.dumps(handler(json.loads(sys.stdin.read()), None)))\n"
    )
    environ = {
        **os.environ,
        "AWS_ENDPOINT_URL": str(bus_settings.endpoint_url),
        "AWS_REGION": bus_settings.region or "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "BUS_ENV": applied.env,
        "BUS_TOPOLOGY": str(applied.path),
        "PYTHONPATH": str(ROOT),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-W", "default", "-c", script],
        input=payload, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"batchItemFailures": []}
    assert "Unclosed" not in done.stderr, done.stderr
