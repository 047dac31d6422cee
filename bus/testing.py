"""Test helpers users' own tests can import; also a pytest plugin (entry point ``bus``).

Fixtures:

- ``bus_emulator`` (session): a fresh LocalStack on a free port with its own state directory,
  stopped at the end of the session. With ``BUS_TEST_ENDPOINT_URL`` set, no emulator is started
  and the tests use that endpoint (an emulator you run, or AWS itself with your AWS configuration).
- ``bus_settings`` (session): ``Settings`` pointing at it.
- ``bus_env``: a unique environment prefix per test, so tests sharing one emulator never collide.
- ``aws``: open ``AwsClients`` for the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from bus import emulator
from bus.aws import AwsClients
from bus.settings import Settings

ENDPOINT_VAR = "BUS_TEST_ENDPOINT_URL"


@pytest.fixture(scope="session")
def bus_emulator(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[emulator.EmulatorInstance | None]:
    if os.environ.get(ENDPOINT_VAR):
        yield None
        return
    instance = emulator.start(state_dir=tmp_path_factory.mktemp("localstack"))
    saved = {k: os.environ.get(k) for k in instance.env()}
    os.environ.update(instance.env())
    try:
        yield instance
    finally:
        emulator.stop(instance)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def bus_settings(bus_emulator: emulator.EmulatorInstance | None) -> Settings:
    if bus_emulator is None:
        return Settings.from_env(endpoint_url=os.environ[ENDPOINT_VAR])
    return Settings(endpoint_url=bus_emulator.endpoint, region=bus_emulator.region)


@pytest.fixture
def bus_env() -> str:
    """A fresh environment prefix (``t`` + 8 hex digits) for this test's resources."""
    return "t" + uuid.uuid4().hex[:8]


@pytest_asyncio.fixture
async def aws(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bus_settings) as clients:
        yield clients
