"""Test helpers users' own tests can import; also a pytest plugin (entry point ``bus``).

The plugin is registered for every install of bus and loads with nothing but pytest and bus's own
dependencies: pytest-asyncio is optional. Without it the ``aws`` fixture (async) fails with a line
saying what to install; the other fixtures work as they are.

Fixtures:

- ``bus_emulator`` (session): a fresh emulator on free ports with its own state directory,
  stopped at the end of the session, its ``env()`` in ``os.environ`` meanwhile. Services:
  ``bus.emulator.DEFAULT_SERVICES`` (SQS, SNS, EventBridge, STS, S3 on LocalStack; DynamoDB on a
  ministack beside it, through ``AWS_ENDPOINT_URL_DYNAMODB``), or the list the ini option
  ``bus_emulator_services`` gives (e.g. ``sqs sns events sts`` for LocalStack alone).
  With ``BUS_TEST_ENDPOINT_URL`` set, no emulator is started and the tests use that endpoint (an
  emulator you run, or AWS itself with your AWS configuration).
- ``bus_settings`` (session): ``Settings`` pointing at it.
- ``bus_env``: a unique environment prefix per test, so tests sharing one emulator never collide.
- ``aws``: open ``AwsClients`` for the test (needs pytest-asyncio).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bus import emulator
from bus.aws import AwsClients
from bus.settings import Settings

ENDPOINT_VAR = "BUS_TEST_ENDPOINT_URL"
SERVICES_INI = "bus_emulator_services"

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised by tests/test_testing_plugin.py in a venv
    pytest_asyncio = None  # type: ignore[assignment]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        SERVICES_INI,
        type="args",
        default=[],
        help="bus: the services the bus_emulator fixture starts [default: sqs sns events sts s3 "
        "dynamodb]",
    )


def emulator_services(config: pytest.Config) -> tuple[str, ...]:
    """The ``bus_emulator_services`` ini option's services, or the emulator's default ones."""
    return tuple(config.getini(SERVICES_INI)) or emulator.DEFAULT_SERVICES


@pytest.fixture(scope="session")
def bus_emulator(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[emulator.EmulatorInstance | None]:
    if os.environ.get(ENDPOINT_VAR):
        yield None
        return
    instance = emulator.start(
        state_dir=tmp_path_factory.mktemp("emulator"), services=emulator_services(pytestconfig)
    )
    try:
        with emulator.environment(instance):
            yield instance
    finally:
        emulator.stop(instance)


@pytest.fixture(scope="session")
def bus_settings(bus_emulator: emulator.EmulatorInstance | None) -> Settings:
    if bus_emulator is None:
        return Settings.from_env(endpoint_url=os.environ[ENDPOINT_VAR])
    return Settings(endpoint_url=bus_emulator.endpoint, region=bus_emulator.region)


@pytest.fixture
def bus_env() -> str:
    """A fresh environment prefix (``t`` + 8 hex digits) for this test's resources."""
    return "t" + uuid.uuid4().hex[:8]


NEEDS_ASYNCIO = "the `aws` fixture of bus.testing is async: install pytest-asyncio to use it"


async def _clients(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bus_settings) as clients:
        yield clients


if pytest_asyncio is not None:
    aws: Any = pytest_asyncio.fixture(_clients, name="aws")
else:

    @pytest.fixture(name="aws")
    def _no_aws() -> None:
        pytest.fail(NEEDS_ASYNCIO, pytrace=False)
