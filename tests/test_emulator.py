"""The embedded LocalStack: isolated, healthy, and stopped by process id."""

from __future__ import annotations

import pytest

from bus import emulator
from bus.aws import AwsClients
from bus.settings import Settings

pytestmark = pytest.mark.aws


async def test_session_emulator_answers_sqs_sns_events(bus_settings: Settings) -> None:
    async with AwsClients(bus_settings) as aws:
        queue = await aws.sqs.create_queue(QueueName="emulator-smoke")
        assert queue["QueueUrl"].endswith("/emulator-smoke")
        topic = await aws.sns.create_topic(Name="emulator-smoke")
        assert topic["TopicArn"].endswith(":emulator-smoke")
        buses = await aws.events.list_event_buses()
        assert any(b["Name"] == "default" for b in buses["EventBuses"])
        account = await aws.account()
        assert account.account_id.isdigit()


def test_second_instance_has_own_port_and_state(tmp_path, bus_emulator) -> None:
    other = emulator.start(state_dir=tmp_path / "other")
    try:
        assert emulator.health(other.endpoint) is not None
        if bus_emulator is not None:
            assert other.port != bus_emulator.port
            assert other.state_dir != bus_emulator.state_dir
        assert (tmp_path / "other" / "fs").is_dir()
    finally:
        assert emulator.stop(other) is True
    assert emulator.health(other.endpoint) is None
    assert emulator.stop(other) is False
    if bus_emulator is not None:
        assert emulator.health(bus_emulator.endpoint) is not None
