"""An outage between the worker and SQS: the worker backs off, reconnects and carries on.

The worker talks to the emulator through a TCP proxy that the test takes down (refusing and
dropping connections) and brings back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from urllib.parse import urlsplit

import pytest
from structlog.testing import capture_logs

from bus.aws import AwsClients
from bus.settings import Settings
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts
from tests.worker import apps
from tests.worker.conftest import ROOT, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: woutage
queues:
  work: {visibility_timeout: 5}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
"""


class Proxy:
    """Forwards 127.0.0.1:<port> to the emulator until ``down()``; ``up()`` listens again."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.target_port = str(parts.hostname), int(parts.port or 80)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


async def test_worker_backs_off_during_an_outage_and_reconnects(
    module_aws: AwsClients, bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    applied = await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("out"), new_env())
    proxy = Proxy(str(bus_settings.endpoint_url))
    await proxy.up()
    # One attempt per call, so that the worker's own backoff (not botocore's) rides the outage.
    settings = bus_settings.model_copy(update={"endpoint_url": proxy.endpoint, "max_attempts": 1})
    stats = Stats()
    before, during = f"before-{uuid.uuid4().hex[:6]}", f"during-{uuid.uuid4().hex[:6]}"
    with capture_logs() as logs:
        async with AwsClients(settings) as aws:
            worker = Worker(
                aws,
                applied.topology,
                env=applied.env,
                base_dir=ROOT,
                options=WorkerOptions(wait_seconds=1, shutdown_grace=5),
                parts=WorkerParts(
                    registry=applied.registry, publisher=applied.publisher(), stats=stats
                ),
            )
            await worker.start()
            try:
                await applied.publisher().publish(apps.Ping(key=before))
                await wait_for(lambda: len(apps.calls(before)) == 1)
                await proxy.down()
                await wait_for(
                    lambda: any(e["event"] == "receive failed; backing off" for e in logs),
                    within=15,
                )
                await applied.publisher().publish(apps.Ping(key=during))  # straight to SQS
                await asyncio.sleep(2)
                assert apps.calls(during) == []
                await proxy.up()
                await wait_for(lambda: len(apps.calls(during)) == 1, within=40)
            finally:
                await worker.stop()
                await proxy.down()
    events = [e["event"] for e in logs]
    assert "receiving again" in events
    failures = [e for e in logs if e["event"] == "receive failed; backing off"]
    assert {e["code"] for e in failures} == {"ConnectionError"}
    assert [e["pause"] for e in failures] == sorted(e["pause"] for e in failures) or len(
        failures
    ) < 3
    assert await applied.depth("work") == 0
