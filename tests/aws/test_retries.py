"""The retry settings of bus's clients follow the standard AWS configuration: ``AWS_MAX_ATTEMPTS``
and ``AWS_RETRY_MODE``, or the profile's ``max_attempts`` and ``retry_mode``, unless ``Settings``
says otherwise; else 5 attempts in botocore's standard mode. The attempts are counted where
botocore makes them (its ``before-send`` event, once per HTTP attempt) against a closed port on
127.0.0.1: botocore's behaviour with the configuration bus gave it, no AWS involved."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from bus.aws import AwsClients
from bus.aws.clients import retries
from bus.errors import SettingsError
from bus.publish.sync import default_timeout
from bus.settings import Settings
from tests.publish.test_outage import Attempts, closed_port


@pytest.fixture(autouse=True)
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS configuration but what a test writes: an empty config file, test credentials."""
    config = tmp_path / "config"
    config.write_text("")
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return config


def test_without_configuration_five_attempts_in_standard_mode() -> None:
    assert retries(Settings()) == {"mode": "standard", "total_max_attempts": 5}


def test_aws_max_attempts_and_retry_mode_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert retries(Settings()) == {"mode": "adaptive", "total_max_attempts": 7}
    # an explicit setting (``--max-attempts``, ``Settings(max_attempts=...)``) wins
    assert retries(Settings(max_attempts=2))["total_max_attempts"] == 2


def test_the_profiles_max_attempts_and_retry_mode_are_honoured(no_aws_config: Path) -> None:
    no_aws_config.write_text(
        "[default]\nmax_attempts = 9\n\n[profile ops]\nmax_attempts = 3\nretry_mode = adaptive\n"
    )
    assert retries(Settings(profile="ops")) == {"mode": "adaptive", "total_max_attempts": 3}
    assert retries(Settings()) == {"mode": "standard", "total_max_attempts": 9}


def test_legacy_mode_is_replaced_by_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    assert retries(Settings())["mode"] == "standard"


@pytest.mark.parametrize("value", ["many", "0", "50"])
def test_an_unusable_aws_max_attempts_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", value)
    with pytest.raises(SettingsError, match="AWS_MAX_ATTEMPTS"):
        retries(Settings())


def test_the_sync_publishers_default_timeout_follows_the_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(connect_timeout=5, read_timeout=30)
    five = default_timeout(settings)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    assert default_timeout(settings) > five + 5 * (5 + 30)


async def test_botocore_makes_the_attempts_aws_max_attempts_asks_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    settings = Settings(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        connect_timeout=1,
        read_timeout=1,
    )
    attempts = Attempts()
    async with AwsClients(settings) as aws:
        assert aws.sqs.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
        attempts.watch(aws.sqs)
        with pytest.raises(EndpointConnectionError):
            await aws.sqs.list_queues()
    assert attempts.by_operation == {"ListQueues": 3}


async def test_a_missing_profile_is_a_settings_error_when_clients_open() -> None:
    with pytest.raises(SettingsError, match=r"profile \(nowhere\) could not be found"):
        async with AwsClients(Settings(region="us-east-1", profile="nowhere")):
            pass
    with pytest.raises(SettingsError, match="could not be found"):
        default_timeout(Settings(profile="nowhere"))
