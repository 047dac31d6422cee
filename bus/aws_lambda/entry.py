"""The Lambda entry point: ``handler_for(queue)`` in the function's module, once::

    # app.py, the function's handler setting: app.handler
    import bus

    handler = bus.handler_for("orders")

Building it (Lambda's init phase, when the module is imported) loads topology.yaml, the schemas,
the handlers and the middlewares, as ``bus worker`` does at start-up; the first invocation opens
the AWS clients and reads the queue's attributes (visibility timeout, redrive policy, DLQ). All of
it is kept for the life of the container: ``handler_for`` caches by queue, topology and stage, and
the entry point keeps one event loop. The cold start (from ``handler_for`` to the first record's
start) is logged once (``lambda ready``, ``cold_start_ms``) and kept in ``cold_start``.

Settings come from the function's environment, as for any bus process: ``BUS_TOPOLOGY`` (default
``topology.yaml`` in the working directory, the deployment package's root), ``BUS_ENV``,
``AWS_REGION`` (Lambda sets it), ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import asyncio
import atexit
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from bus.aws import AwsClients
from bus.aws_lambda.consumer import LambdaConsumer, LambdaContext, LambdaOptions
from bus.settings import Settings
from bus.topology.load import load_topology
from bus.worker.runtime import Worker, WorkerOptions

_CACHE: dict[tuple[str, str, str | None, str | None], LambdaHandler] = {}


class LambdaHandler:
    """A Lambda function's handler for one queue's SQS event source mapping (sync, as Lambda's
    Python runtime calls it); ``handle`` is the same for callers with a running loop."""

    def __init__(
        self,
        queue: str,
        settings: Settings | None = None,
        options: LambdaOptions | None = None,
        *,
        aws: AwsClients | None = None,
    ) -> None:
        started = time.perf_counter()
        self.queue = queue
        self.settings = settings or Settings.from_env()
        self.options = options or LambdaOptions()
        path = Path(self.settings.topology_path).resolve()
        self.aws = aws or AwsClients(self.settings)
        """Opened on the first invocation (``aws``: clients to use instead, e.g. in memory)."""
        self.worker = Worker(  # imports the handlers and middlewares, once
            self.aws,
            load_topology(path, env=self.settings.env),
            env=self.settings.env,
            base_dir=path.parent,
            options=WorkerOptions(queues=(queue,)),
        )
        self.cold_start: float | None = None
        """Seconds from ``handler_for`` to ready for the first record (set once ready)."""
        self._started = started
        self._consumer: LambdaConsumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log = structlog.get_logger("bus.lambda")

    def __call__(self, event: Mapping[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            atexit.register(self.close)  # a script that never closes it: closed at exit
        return self._loop.run_until_complete(self.handle(event, context))

    async def handle(
        self, event: Mapping[str, Any], context: LambdaContext | None
    ) -> dict[str, Any]:
        """The partial batch response for ``event`` (see ``bus.aws_lambda.consumer``)."""
        consumer = self._consumer or await self._open()
        return await consumer.handle(event, context)

    async def _open(self) -> LambdaConsumer:
        await self.aws.__aenter__()
        try:
            consumer = await LambdaConsumer.open(self.worker, self.queue, self.options)
        except BaseException:
            await self.aws.__aexit__(None, None, None)
            raise
        self._consumer = consumer
        self.cold_start = time.perf_counter() - self._started
        self._log.info(
            "lambda ready", queue=self.queue, cold_start_ms=round(self.cold_start * 1000, 1)
        )
        return consumer

    async def aclose(self) -> None:
        """Close the AWS clients (a container ends without it; tests and tools call it)."""
        if self._consumer is not None:
            self._consumer = None
            await self.aws.__aexit__(None, None, None)

    def close(self) -> None:
        """``aclose`` on the handler's own loop, then close that loop (at the latest when the
        interpreter exits, for a handler called as Lambda calls it)."""
        atexit.unregister(self.close)
        if self._loop is not None:
            self._loop.run_until_complete(self.aclose())
            self._loop.close()
            self._loop = None


def handler_for(
    queue: str,
    *,
    settings: Settings | None = None,
    options: LambdaOptions | None = None,
    aws: AwsClients | None = None,
) -> LambdaHandler:
    """The Lambda handler for ``queue`` (logical name) with the topology's handlers; built once
    per container and queue (``settings``: default ``Settings.from_env()``; ``aws``: clients to
    use instead of those ``settings`` describe)."""
    settings = settings or Settings.from_env()
    key = (queue, str(Path(settings.topology_path).resolve()), settings.env, settings.region)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _CACHE[key] = LambdaHandler(queue, settings, options, aws=aws)
    return cached


def forget() -> None:
    """Drop the cached handlers (tests; a container never needs it)."""
    _CACHE.clear()
