"""Bad AWS settings are ``SettingsError``s (exit code 3) naming where the value came from: the
environment variable or option, and the value; never a botocore or pydantic traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.aws.clients import service_endpoint
from bus.cli import main
from bus.errors import SettingsError
from bus.settings import Settings


def test_an_endpoint_that_is_not_a_url_names_its_variable() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"AWS_ENDPOINT_URL": "ftp://x"})
    assert str(info.value) == (
        "invalid settings: AWS_ENDPOINT_URL / --endpoint-url 'ftp://x': "
        "must start with http:// or https://"
    )


def test_empty_variables_are_unset() -> None:
    settings = Settings.from_env({"AWS_ENDPOINT_URL": "", "BUS_ENV": ""})
    assert (settings.endpoint_url, settings.env) == (None, None)


def test_every_bad_setting_is_named_once() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"BUS_ENV": "Dev_1"}, endpoint_url="localhost:4566")
    message = str(info.value)
    assert "BUS_ENV / --env 'Dev_1'" in message
    assert "AWS_ENDPOINT_URL / --endpoint-url 'localhost:4566'" in message
    assert "errors.pydantic.dev" not in message


def test_a_service_endpoint_that_is_not_a_url_names_its_variable() -> None:
    settings = Settings(endpoint_url="http://127.0.0.1:1")
    env = {"AWS_ENDPOINT_URL_SQS": "notaurl"}
    with pytest.raises(SettingsError, match="AWS_ENDPOINT_URL_SQS 'notaurl'"):
        service_endpoint("sqs", settings, env)
    assert service_endpoint("sns", settings, env) == "http://127.0.0.1:1"


async def test_a_region_botocore_refuses_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"'us east'.*AWS_REGION / --region"):
        async with AwsClients(Settings(region="us east")):
            pass


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AWS_ENDPOINT_URL_SQS": "notaurl"}, "AWS_ENDPOINT_URL_SQS 'notaurl'"),
        ({"AWS_ENDPOINT_URL": "ftp://x"}, "AWS_ENDPOINT_URL / --endpoint-url 'ftp://x'"),
        ({"AWS_REGION": "us east"}, "AWS_REGION / --region"),
    ],
)
def test_the_cli_prints_one_line_and_exits_3(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    topology = Path(__file__).resolve().parents[2] / "topology.yaml"
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--env", "dev", "-t", str(topology)])
    printed = capsys.readouterr().err
    assert exited.value.code == 3, printed
    assert printed.startswith("error: ")
    assert expected in printed
    assert printed.count("\n") == 1  # one line, no traceback
