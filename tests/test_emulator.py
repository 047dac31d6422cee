"""The embedded LocalStack: isolated, healthy, and stopped by process id."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bus import emulator
from bus.aws import AwsClients
from bus.emulator import sockets
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
    # SQS alone starts in a third of the time of every default service (and their companion)
    other = emulator.start(state_dir=tmp_path / "other", services=("sqs",))
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


def _ss_listeners(pid: int) -> list[str]:
    """``ss -ltnp``'s local addresses of the sockets ``pid`` holds (a second, independent reading)."""
    shown = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in shown.splitlines() if f"pid={pid}," in line]


@pytest.mark.skipif(not sockets.available(), reason="no per-process sockets in /proc")
def test_every_emulator_process_listens_on_loopback_only(
    bus_emulator: emulator.EmulatorInstance | None,
) -> None:
    if bus_emulator is None:
        pytest.skip("the session uses BUS_TEST_ENDPOINT_URL, not an emulator it started")
    assert_loopback_only(bus_emulator)


def assert_loopback_only(instance: emulator.EmulatorInstance) -> None:
    """Every listening socket of every process of ``instance`` (and their children) is loopback,
    and each process listens on its own port."""
    for process in instance.processes():
        tree = sockets.descendants(process.pid)
        found = sockets.listeners(process.pid)
        assert {(f.host, f.port) for f in found} >= {("127.0.0.1", process.port)}, tree
        assert all(f.is_loopback for f in found), found
        if shutil.which("ss"):
            for pid in tree:
                for address in _ss_listeners(pid):
                    assert address.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"), address
