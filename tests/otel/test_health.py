"""``/healthz`` and ``/readyz`` from ``Readiness``, over the small HTTP server (no AWS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bus.health import HttpServer, Readiness, health_routes
from tests.otel.probe import get


@pytest.fixture
async def served() -> AsyncIterator[tuple[Readiness, int]]:
    readiness = Readiness()
    server = await HttpServer.start(health_routes(readiness), "127.0.0.1", 0)
    try:
        yield readiness, server.port
    finally:
        await server.close()


async def test_healthz_answers_while_the_loop_runs(served: tuple[Readiness, int]) -> None:
    _, port = served
    assert await get(port, "/healthz") == (200, "ok\n")
    assert await get(port, "/healthz?verbose=1") == (200, "ok\n")


async def test_readyz_follows_start_outage_and_stop(served: tuple[Readiness, int]) -> None:
    readiness, port = served
    assert await get(port, "/readyz") == (503, "not ready: starting\n")
    readiness.started = True
    assert await get(port, "/readyz") == (200, "ready\n")
    first, second = object(), object()
    readiness.failing(first, "dev-billing")
    readiness.failing(second, "dev-shipping")
    assert await get(port, "/readyz") == (
        503,
        "not ready: receive failing: dev-billing, dev-shipping\n",
    )
    readiness.receiving(first)
    assert await get(port, "/readyz") == (503, "not ready: receive failing: dev-shipping\n")
    readiness.receiving(second)
    assert await get(port, "/readyz") == (200, "ready\n")
    readiness.stopping = True
    assert await get(port, "/readyz") == (503, "not ready: stopping\n")


async def test_other_paths_and_methods_are_refused(served: tuple[Readiness, int]) -> None:
    _, port = served
    assert (await get(port, "/metrics"))[0] == 404
    assert (await get(port, "/readyz", method="POST"))[0] == 405
    assert await get(port, "/healthz", method="HEAD") == (200, "")


async def test_a_request_too_large_or_too_slow_is_dropped_and_the_server_keeps_answering(
    served: tuple[Readiness, int],
) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Junk: " + b"x" * 20_000 + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:  # closed with our bytes unread: a reset
        answer = b""
    finally:
        writer.close()
    assert answer == b""  # closed without an answer
    assert await get(port, "/healthz") == (200, "ok\n")


async def test_a_failing_route_answers_500() -> None:
    def broken() -> object:
        raise RuntimeError("collect failed")

    server = await HttpServer.start({"/metrics": broken}, "127.0.0.1", 0)  # type: ignore[dict-item]
    try:
        assert await get(server.port, "/metrics") == (500, "RuntimeError: collect failed\n")
    finally:
        await server.close()
