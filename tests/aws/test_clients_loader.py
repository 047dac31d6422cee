"""``AwsClients`` opened again in the same process reuse botocore's parsed data files (one loader
per data path) instead of parsing each service's JSON model and the endpoint rules once more."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.settings import Settings

SETTINGS = Settings(endpoint_url="http://127.0.0.1:4566", region="us-east-1")


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)


async def _sqs_model(settings: Settings) -> object:
    async with AwsClients(settings) as aws:
        return aws.sqs.meta.service_model._service_description


async def test_clients_opened_one_after_another_share_the_parsed_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = await _sqs_model(SETTINGS)
    assert await _sqs_model(SETTINGS) is first
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))  # another data path: its own loader
    other = await _sqs_model(SETTINGS)
    assert other is not first
    assert other == first
    assert await _sqs_model(SETTINGS) is other
