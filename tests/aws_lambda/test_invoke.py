"""``bus lambda invoke`` against the emulator: the queue's messages reach the entry point as an
event source mapping delivers them; what it handled (or dead-lettered) is deleted, what it reports
failed stays on the queue."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.settings import Settings
from tests.worker import apps
from tests.worker.conftest import ROOT, Applied, apply_topology, new_env

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: lamcli
queues:
  lamcli: {visibility_timeout: 30, dead_letter: {max_receive_count: 5}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: lamcli}]}
handlers:
  lamcli:
    events: {Ping: "tests.worker.apps:record"}
    retry: {attempts: 1, redelivery: {initial: 60, maximum: 60, jitter: false}}
"""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("lamcli"), new_env())


@pytest.mark.timeout(90)
async def test_invoke_deletes_what_the_entry_point_handled_and_leaves_its_failures(
    applied: Applied, bus_settings: Settings, tmp_path: Path
) -> None:
    k = "c" + uuid.uuid4().hex[:8]
    publisher = applied.publisher()
    await publisher.publish(apps.Ping(key=f"{k}-ok"))
    await publisher.publish(apps.Ping(key=f"{k}-fail", behaviour="fail"))
    await publisher.publish(apps.Ping(key=f"{k}-reject", behaviour="reject"))
    record = tmp_path / "calls.jsonl"
    environ = {
        **os.environ,
        "AWS_ENDPOINT_URL": str(bus_settings.endpoint_url),
        "AWS_REGION": bus_settings.region or "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "BUS_TEST_RECORD": str(record),
        "PYTHONPATH": str(ROOT),
    }
    args = [sys.executable, "cli.py", "lambda", "invoke", "-q", "lamcli", "-t", str(applied.path)]
    args += ["--env", applied.env, "--until-empty", "--wait-seconds", "1"]
    done = await asyncio.to_thread(
        subprocess.run, args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 record(s), 2 deleted, 1 reported failed" in done.stdout
    handled = [json.loads(line)["key"] for line in record.read_text().splitlines()]
    assert handled == [f"{k}-ok"]
    assert await applied.depth("lamcli") == 1  # the failure, invisible for its 60 s backoff
    assert await applied.depth("lamcli-dlq") == 1  # the rejected one
