"""``bus.aws.signing``: ``LightSigV4Auth`` signs exactly as botocore's ``SigV4Auth`` (canonical
request, string to sign, every header it sets), on generated requests; a client signs with it only
where botocore chose ``SigV4Auth``."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import AioSession
from botocore import auth as botocore_auth
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.aws import AwsClients, signing
from bus.aws.signing import LightSigV4Auth, light_signing
from bus.settings import Settings

NOW = datetime.datetime(2026, 12, 3, 7, 45, 12, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: NOW)


_names = st.sampled_from(
    [
        "Content-Type",
        "content-type",
        "X-Amz-Target",
        "x-amz-target",
        "User-Agent",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "X-Amz-Content-SHA256",
        "Host",
        "Expect",
        "Connection",
        "x-amzn-trace-id",
        "X-Custom  ",
        "Authorization",
        "X-Amz-Date",
        "X-Amz-Security-Token",
    ]
)
_values = st.one_of(
    st.text(alphabet=" \tabcXYZ019=/;,-", max_size=30),
    st.text(max_size=8),  # non-ASCII: botocore's own path
    st.sampled_from(["application/x-amz-json-1.0", "attempt=1; max=5", "  a   b  c  "]),
)
_urls = st.sampled_from(
    [
        "http://127.0.0.1:4566/",
        "http://127.0.0.1:4566",
        "https://sqs.eu-west-1.amazonaws.com/",
        "https://sqs.eu-west-1.amazonaws.com:443/",
        "http://LOCALHOST:80/000000000000/orders",
        "https://sns.us-east-1.amazonaws.com/?Action=Publish&b=2&a=1",
        "http://[::1]:4566/a/../b/./c%20d",
        "https://user@events.eu-central-1.amazonaws.com:8443/x y",
    ]
)


@st.composite
def _requests(draw: Any) -> tuple[dict[str, Any], Credentials, str, str]:
    headers = draw(st.lists(st.tuples(_names, _values), max_size=8))
    request = {
        "method": draw(st.sampled_from(["POST", "get", "PUT"])),
        "url": draw(_urls),
        "headers": headers,
        "data": draw(st.one_of(st.binary(max_size=200), st.just(b""))),
        "params": draw(
            st.one_of(
                st.just({}), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)
            )
        ),
        "unsigned_payload": draw(st.booleans()),
    }
    token = draw(st.one_of(st.none(), st.just("session-token/+=")))
    secret = draw(st.sampled_from(["wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "s"]))
    creds = Credentials("AKIDEXAMPLE", secret, token)
    region = draw(st.sampled_from(["eu-west-1", "us-east-1"]))
    service = draw(st.sampled_from(["sqs", "sns", "events"]))
    return request, creds, region, service


def _request(spec: dict[str, Any]) -> AWSRequest:
    request = AWSRequest(
        method=spec["method"], url=spec["url"], data=spec["data"], params=spec["params"]
    )
    for name, value in spec["headers"]:
        request.headers[name] = value  # HTTPHeaders keeps repeated names, as botocore may
    request.context = {"payload_signing_enabled": not spec["unsigned_payload"]}
    return request


def _signed(
    cls: type[SigV4Auth], spec: dict[str, Any], creds: Credentials, region: str, service: str
) -> AWSRequest:
    request = _request(spec)
    cls(creds, service, region).add_auth(request)
    return request


@settings(max_examples=300, deadline=None)
@given(_requests())
def test_light_signer_signs_as_botocore(case: tuple[dict[str, Any], Credentials, str, str]) -> None:
    spec, creds, region, service = case
    expected = _signed(SigV4Auth, spec, creds, region, service)
    got = _signed(LightSigV4Auth, spec, creds, region, service)
    assert list(got.headers.items()) == list(expected.headers.items())
    plain, light = SigV4Auth(creds, service, region), LightSigV4Auth(creds, service, region)
    again = _request(spec)
    again.context["timestamp"] = NOW.strftime(botocore_auth.SIGV4_TIMESTAMP)
    assert light.canonical_request(again) == plain.canonical_request(again)


def test_a_known_signature_is_reproduced() -> None:
    """AWS's documented example (GET iam ListUsers, us-east-1, 2015-08-30T12:36:00Z)."""
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    request = AWSRequest(
        method="GET",
        url="https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    request.context = {"timestamp": "20150830T123600Z"}
    request.headers["X-Amz-Date"] = "20150830T123600Z"
    light = LightSigV4Auth(creds, "iam", "us-east-1")
    canonical = light.canonical_request(request)
    assert canonical.split("\n")[-1] == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    signature = light.signature(light.string_to_sign(request, canonical), request)
    assert signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_the_remembered_keys_and_urls_are_bounded() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret")
    for n in range(signing.MAX_ENTRIES + 5):
        spec = {
            "method": "POST",
            "url": f"http://127.0.0.1:{4000 + n}/",
            "headers": [("Content-Type", "application/x-amz-json-1.0")],
            "data": b"{}",
            "params": {},
            "unsigned_payload": False,
        }
        other = Credentials("AKIDEXAMPLE", f"secret{n}")
        for c in (creds, other):  # each secret its own key: never another's
            assert list(
                _signed(LightSigV4Auth, spec, c, "eu-west-1", "sqs").headers.items()
            ) == list(_signed(SigV4Auth, spec, c, "eu-west-1", "sqs").headers.items())
    assert len(signing._URLS) <= signing.MAX_ENTRIES
    assert len(signing._KEYS) <= signing.MAX_ENTRIES


@pytest.fixture
async def sqs() -> AsyncIterator[Any]:
    session = AioSession()
    async with session.create_client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:1",  # never called
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ) as client:
        yield client


async def test_a_client_signs_lightly_only_where_botocore_chose_sigv4(sqs: Any) -> None:
    assert light_signing(sqs)
    signer = sqs._request_signer
    auth = await signer.get_auth_instance(
        signing_name="sqs", region_name="eu-west-1", signature_version="v4"
    )
    assert type(auth) is LightSigV4Auth
    s3 = await signer.get_auth_instance(
        signing_name="s3", region_name="eu-west-1", signature_version="s3v4"
    )
    assert type(s3) is S3SigV4Auth  # other signers are left alone


def test_a_client_without_a_request_signer_is_left_alone() -> None:
    assert not light_signing(object())


async def test_aws_clients_sign_sqs_sns_and_eventbridge_lightly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    settings = Settings(endpoint_url="http://127.0.0.1:1", region="eu-west-1")  # never called
    async with AwsClients(settings) as aws:
        for client, name in ((aws.sqs, "sqs"), (aws.sns, "sns"), (aws.events, "events")):
            auth = await client._request_signer.get_auth_instance(
                signing_name=name, region_name="eu-west-1", signature_version="v4"
            )
            assert type(auth) is LightSigV4Auth
