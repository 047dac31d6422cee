"""Health for probes (ECS, Kubernetes): ``/healthz`` and ``/readyz`` over a tiny HTTP server.

::

    server = await HttpServer.start(health_routes(worker.readiness), "127.0.0.1", 8081)
    ...
    await server.close()

``/healthz`` answers 200 whenever the event loop answers (the server runs on the worker's loop:
a loop blocked by a handler does not answer, and the probe times out). ``/readyz`` answers 200
when the worker has started, is not stopping and every poller's last receive succeeded; 503 with
the reason otherwise (``starting``, ``stopping``, ``receive failing: <queue>``). A poller in an
outage (its receives failing, backing off) makes it not ready until a receive succeeds again: with
a long poll that is within ``--wait-seconds`` of the outage's end.

The server is deliberately small: GET only, one request per connection, bounded request size and
time; it needs no dependency. ``bus.otel.prometheus`` serves ``/metrics`` with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

READ_LIMIT = 8192
"""Bytes a request (line and headers) may take."""
READ_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Answer]
REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Readiness:
    """Whether a worker may be sent traffic: the state its pollers and its stop update.

    A poller reports ``failing(poller)`` when a receive fails and ``receiving(poller)`` when one
    succeeds again (only on those changes: nothing on the hot path); the worker says ``started``
    and ``stopping``.
    """

    def __init__(self) -> None:
        self.started = False
        self.stopping = False
        self._failing: dict[object, str] = {}

    def failing(self, poller: object, queue: str) -> None:
        self._failing[poller] = queue

    def receiving(self, poller: object) -> None:
        self._failing.pop(poller, None)

    @property
    def ready(self) -> bool:
        return self.started and not self.stopping and not self._failing

    @property
    def reason(self) -> str:
        """Why not ready (empty when ready)."""
        if self.stopping:
            return "stopping"
        if not self.started:
            return "starting"
        if self._failing:
            return "receive failing: " + ", ".join(sorted(set(self._failing.values())))
        return ""


def health_routes(readiness: Readiness) -> dict[str, Route]:
    """``/healthz`` and ``/readyz`` answering from ``readiness``."""

    def healthz() -> Answer:
        return Answer(200, "ok\n")

    def readyz() -> Answer:
        if readiness.ready:
            return Answer(200, "ready\n")
        return Answer(503, f"not ready: {readiness.reason}\n")

    return {"/healthz": healthz, "/readyz": readyz}


class HttpServer:
    """Answers GET requests for a few fixed paths on the running event loop."""

    def __init__(self, server: asyncio.Server, routes: Mapping[str, Route]) -> None:
        self._server = server
        self.routes = routes

    @classmethod
    async def start(cls, routes: Mapping[str, Route], host: str, port: int) -> HttpServer:
        """Listen on ``host:port`` (port 0: a free one, see ``port``)."""
        holder: list[HttpServer] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await holder[0]._serve(reader, writer)

        server = await asyncio.start_server(serve, host, port, limit=READ_LIMIT)
        holder.append(cls(server, routes))
        return holder[0]

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def _answer(self, request_line: bytes) -> Answer:
        parts = request_line.decode("latin-1").split()
        if len(parts) < 2:
            return Answer(405, "bad request\n")
        method, target = parts[0], parts[1].split("?", 1)[0]
        route = self.routes.get(target)
        if route is None:
            return Answer(404, "not found\n")
        if method not in ("GET", "HEAD"):
            return Answer(405, "GET only\n")
        try:
            return route()
        except Exception as exc:
            return Answer(500, f"{type(exc).__name__}: {exc}\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            answer = self._answer(head.split(b"\r\n", 1)[0])
            body = answer.body.encode()
            reason = REASONS.get(answer.status, "")
            writer.write(
                f"HTTP/1.1 {answer.status} {reason}\r\nContent-Type: {answer.content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + (b"" if head.startswith(b"HEAD ") else body)
            )
            await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
