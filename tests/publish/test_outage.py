"""AWS out of reach: botocore retries each call, bus does not retry it again, and the error (with
its code) reaches the caller, of ``Publisher`` and of ``SyncPublisher`` alike.

The endpoint is a closed port on 127.0.0.1 (nothing listens, so every attempt is refused at once)
and ``max_attempts`` is low; attempts are counted with botocore's ``before-send`` event, which it
emits once per HTTP attempt. Real aiobotocore clients: this is botocore's behaviour, not AWS's.
(``Settings.max_attempts`` is botocore's ``total_max_attempts``, the first attempt included; before
bus stopped retrying whole calls itself, the batch went out 5 times, each with all of botocore's
attempts.)
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from bus.aws import AwsClients
from bus.errors import AwsError, PublishError
from bus.publish import Publisher, SyncPublisher
from bus.publish.sync import default_timeout
from bus.settings import Settings
from schemas.orders import OrderPlaced
from tests.publish.scripted import REGISTRY, TOPOLOGY

ATTEMPTS = 2
"""The attempts botocore makes of one call (``Settings.max_attempts``)."""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there now


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return Settings(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        max_attempts=ATTEMPTS,
        connect_timeout=2,
        read_timeout=2,
        env="t",
    )


class Attempts:
    """Counts the HTTP attempts of each operation (botocore's ``before-send`` event)."""

    def __init__(self) -> None:
        self.by_operation: dict[str, int] = {}

    def __call__(self, event_name: str, **_: object) -> None:
        operation = event_name.rsplit(".", 1)[-1]  # before-send.<service>.<Operation>
        self.by_operation[operation] = self.by_operation.get(operation, 0) + 1

    def watch(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("before-send", self)


def order() -> OrderPlaced:
    return OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")


async def test_a_refused_endpoint_is_tried_max_attempts_times_per_call_then_reported(
    outage: Settings,
) -> None:
    attempts = Attempts()
    async with AwsClients(outage) as aws:
        attempts.watch(aws.events, aws.sns, aws._sts)
        publisher = Publisher(aws, REGISTRY, TOPOLOGY, outage.env)
        with pytest.raises(PublishError) as info:
            await publisher.publish(order())
        assert info.value.code == "ConnectionError"
        assert "topic:orders failed: ConnectionError" in str(info.value)
        assert "bus:shop-events failed: ConnectionError" in str(info.value)
        # botocore's attempts only: bus sent the PutEvents batch once (it used to send it 5
        # times, each time with botocore's retries), and looked the account up once (STS).
        assert set(attempts.by_operation) == {"PutEvents", "GetCallerIdentity"}
        assert attempts.by_operation["PutEvents"] == ATTEMPTS
        assert attempts.by_operation["GetCallerIdentity"] == ATTEMPTS
        first = attempts.by_operation["PutEvents"]
        results = await publisher.publish_many([order(), order()])
        assert {d.error_code for r in results for d in r.deliveries} == {"ConnectionError"}
        assert attempts.by_operation["PutEvents"] == 2 * first  # one more call: one batch


def test_sync_publisher_reports_the_aws_error_not_a_timeout(outage: Settings) -> None:
    attempts = Attempts()
    with SyncPublisher(outage, topology=TOPOLOGY, registry=REGISTRY) as publisher:
        assert publisher.timeout == default_timeout(outage)
        attempts.watch(publisher._aws.events, publisher._aws._sts)
        with pytest.raises(AwsError) as info:
            publisher.publish(order())
        assert isinstance(info.value, PublishError)
        assert info.value.code == "ConnectionError"  # not "Timeout"
        assert set(attempts.by_operation) == {"PutEvents", "GetCallerIdentity"}
        assert all(count == ATTEMPTS for count in attempts.by_operation.values())


def test_the_default_timeout_outlasts_botocores_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    default = Settings()
    # 5 attempts of up to 5 s connect + 30 s read, and botocore's waits between them (at most
    # 1, 2, 4, 8 s)
    assert default_timeout(default) > 5 * (5 + 30) + (1 + 2 + 4 + 8)
    quick = Settings(max_attempts=1, connect_timeout=1, read_timeout=1)
    assert default_timeout(quick) == 60.0


async def test_nothing_is_left_running() -> None:
    assert asyncio.all_tasks() == {asyncio.current_task()}
