"""aiobotocore (and aiohttp under it) is imported when ``AwsClients`` first opens, not by
``import bus``: the commands that never call AWS (``bus --help``, ``validate``, ``graph``) and
tests on the in-memory AWS start without its ~0.5 s of imports."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import asyncio, sys
import bus, bus.cli, bus.worker, bus.publish, bus.dlq, bus.memory, bus.testing, cli
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"aiobotocore", "aiohttp"})
assert not loaded, loaded

async def main():
    async with bus.AwsClients(bus.Settings(region="us-east-1")) as aws:
        assert aws.sqs.meta.region_name == "us-east-1"

asyncio.run(main())
assert "aiobotocore.session" in sys.modules
"""


def test_import_bus_leaves_aiobotocore_until_clients_open() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False,
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
