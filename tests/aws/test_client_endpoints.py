"""Which endpoint each client gets: a service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` wins over the
settings' endpoint for its own service only (the standard AWS rule), so one emulator serves SQS and
SNS while another serves DynamoDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.aws.clients import service_endpoint
from bus.settings import Settings

MAIN = "http://127.0.0.1:4566"
DYNAMO = "http://127.0.0.1:4599"


def test_service_variable_wins_for_its_service_only() -> None:
    settings = Settings(endpoint_url=MAIN, region="us-east-1")
    env = {"AWS_ENDPOINT_URL_DYNAMODB": DYNAMO}
    assert service_endpoint("dynamodb", settings, env) == DYNAMO
    assert service_endpoint("sqs", settings, env) == MAIN
    assert service_endpoint("dynamodb", settings, {}) == MAIN
    assert service_endpoint("dynamodb", Settings(region="us-east-1"), {}) is None


async def test_open_clients_use_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", DYNAMO)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    async with AwsClients(Settings(endpoint_url=MAIN, region="us-east-1")) as aws:
        assert aws.dynamodb.meta.endpoint_url == DYNAMO
        assert aws.sqs.meta.endpoint_url == MAIN
        assert aws.cloudwatch.meta.endpoint_url == MAIN


async def test_ignore_configured_endpoint_urls_turns_the_variables_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "AWS_ENDPOINT_URL": MAIN,
        "AWS_ENDPOINT_URL_DYNAMODB": DYNAMO,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    }
    settings = Settings.from_env(env, region="us-east-1")
    assert settings.endpoint_url is None
    assert service_endpoint("dynamodb", settings, env) is None
    # an endpoint given explicitly (``--endpoint-url``) still counts
    assert Settings.from_env(env, endpoint_url=MAIN).endpoint_url == MAIN
    for name, value in {
        **env,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    async with AwsClients(settings) as aws:  # botocore ignores them too: AWS's own endpoints
        assert aws.dynamodb.meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
        assert aws.sqs.meta.endpoint_url == "https://sqs.us-east-1.amazonaws.com"


async def test_a_profile_that_ignores_configured_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ignore_configured_endpoint_urls = true`` in the profile turns the variables off as the
    environment variable does (botocore reads both); the variable, when set, wins over it."""
    config = tmp_path / "config"
    config.write_text(
        "[default]\nregion = us-east-1\n\n"
        "[profile isolated]\nregion = us-east-1\nignore_configured_endpoint_urls = true\n"
    )
    env = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_ENDPOINT_URL": MAIN,
        "AWS_ENDPOINT_URL_DYNAMODB": DYNAMO,
    }
    isolated = Settings.from_env({**env, "AWS_PROFILE": "isolated"})
    assert isolated.endpoint_url is None
    assert service_endpoint("dynamodb", isolated, env) is None
    # the profile given as an override (``--profile``) counts as AWS_PROFILE does
    assert Settings.from_env(env, profile="isolated").endpoint_url is None
    # the default profile does not ignore them
    plain = Settings.from_env(env)
    assert plain.endpoint_url == MAIN
    assert service_endpoint("dynamodb", plain, env) == DYNAMO
    # the environment variable wins over the profile, either way
    assert Settings.from_env({**env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"},
                             profile="isolated").endpoint_url == MAIN  # fmt: skip
    # a config file that is missing says nothing
    assert (
        Settings.from_env({**env, "AWS_CONFIG_FILE": str(tmp_path / "none")}).endpoint_url == MAIN
    )

    for name, value in {**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    async with AwsClients(isolated) as aws:  # botocore reads the profile the same way
        assert aws.dynamodb.meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
        assert aws.sqs.meta.endpoint_url == "https://sqs.us-east-1.amazonaws.com"
