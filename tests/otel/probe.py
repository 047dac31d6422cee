"""A minimal HTTP GET for the health and metrics endpoints (what a probe or a scraper does), the
ports a worker's JSON log says it serves on, and a sample read from a Prometheus scrape."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path


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


def serving_ports(log: Path) -> dict[str, int]:
    """The ports a ``bus worker --json-logs`` says it serves on (``serving metrics``, ...)."""
    found: dict[str, int] = {}
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"serving ' in line:
            record = json.loads(line)
            found[record["event"].removeprefix("serving ")] = record["port"]
    return found


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(
            re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or "")
        )
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None
