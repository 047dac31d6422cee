"""A minimal HTTP GET for the health and metrics endpoints (what a probe or a scraper does)."""

from __future__ import annotations

import asyncio


async def get(
    port: int, path: str, host: str = "127.0.0.1", method: str = "GET"
) -> tuple[int, str]:
    """``(status, body)`` of ``method path`` on ``host:port``."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()
