"""``/readyz`` of a running worker against the emulator: false during an outage (the pollers back
off) and true once they receive again; false during a graceful shutdown; ``/healthz`` answers
throughout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bus.aws import AwsClients
from bus.health import HttpServer, health_routes
from bus.settings import Settings
from bus.worker import Worker, WorkerOptions
from tests.otel.probe import get
from tests.worker import apps
from tests.worker.conftest import (
    ROOT,
    apply_topology,
    module_aws,  # noqa: F401  (the fixture)
    new_env,
    wait_for,
)
from tests.worker.test_outage import Proxy

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: whealth
queues:
  work: {visibility_timeout: 10}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
"""


async def _status(port: int, path: str) -> int:
    return (await get(port, path))[0]


def _answers(port: int, status: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _status(port, "/readyz") == status

    return check


async def test_readyz_false_during_an_outage_and_shutdown_true_otherwise(
    module_aws: AwsClients,  # noqa: F811
    bus_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    applied = await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("h"), new_env())
    proxy = Proxy(str(bus_settings.endpoint_url))
    await proxy.up()
    settings = bus_settings.model_copy(update={"endpoint_url": proxy.endpoint, "max_attempts": 1})
    async with AwsClients(settings) as aws:
        worker = Worker(
            aws,
            applied.topology,
            env=applied.env,
            base_dir=ROOT,
            registry=applied.registry,
            publisher=applied.publisher(),
            options=WorkerOptions(wait_seconds=1, shutdown_grace=10),
        )
        server = await HttpServer.start(health_routes(worker.readiness), "127.0.0.1", 0)
        port = server.port
        stopping: asyncio.Task[None] | None = None
        try:
            assert await get(port, "/readyz") == (503, "not ready: starting\n")
            await worker.start()
            assert await get(port, "/readyz") == (200, "ready\n")

            await proxy.down()
            await wait_for(_answers(port, 503), within=15)
            status, body = await get(port, "/readyz")
            assert (status, body) == (503, f"not ready: receive failing: {applied.env}-work\n")
            assert await _status(port, "/healthz") == 200

            await proxy.up()
            await wait_for(_answers(port, 200), within=40)

            k = f"h-{new_env()}"
            await applied.publisher().publish(apps.Ping(key=k, behaviour="slow:3"))
            await wait_for(lambda: k in apps.STARTS)
            stopping = asyncio.create_task(worker.stop())
            await asyncio.sleep(0.2)
            assert not stopping.done()  # the slow handler holds the stop
            assert await get(port, "/readyz") == (503, "not ready: stopping\n")
            assert await _status(port, "/healthz") == 200
            await stopping
            assert len(apps.calls(k)) == 1
        finally:
            if stopping is None:
                await worker.stop()
            await server.close()
            await proxy.down()
