"""``bus.aws.useragent``: a client's User-Agent, remembered per feature set, is the one botocore
builds; a client without botocore's internals is left alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import AioSession
from botocore.awsrequest import AWSRequest
from botocore.context import ClientContext, reset_context, set_context
from botocore.useragent import UserAgentString, register_feature_id

from bus.aws.useragent import MAX_ENTRIES, cache_user_agent


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


def _features(ua: str) -> set[str]:
    """The ``m/`` component's feature codes (botocore joins a set: their order is not fixed)."""
    return {code for part in ua.split() if part.startswith("m/") for code in part[2:].split(",")}


def _rest(ua: str) -> list[str]:
    return [part for part in ua.split() if not part.startswith("m/")]


def _in_context(features: list[str], build: Any) -> str:
    token = set_context(ClientContext())
    try:
        for feature in features:
            register_feature_id(feature)
        return str(build())
    finally:
        reset_context(token)


@pytest.mark.parametrize(
    "features", [[], ["RETRY_MODE_STANDARD"], ["RETRY_MODE_STANDARD", "ENDPOINT_OVERRIDE"]]
)
async def test_the_remembered_header_is_botocores(sqs: Any, features: list[str]) -> None:
    creator = sqs._user_agent_creator
    assert cache_user_agent(sqs)
    expected = _in_context(features, lambda: UserAgentString.to_string(creator))
    first = _in_context(features, creator.to_string)
    second = _in_context(features, creator.to_string)
    assert first is second  # built once
    assert _rest(first) == _rest(expected)
    assert _features(first) == _features(expected)
    plain = _in_context([], creator.to_string)
    assert _features(plain) <= _features(first)  # the client's own features, and the call's


async def test_each_feature_set_has_its_own_header_and_the_memory_is_bounded(sqs: Any) -> None:
    creator = sqs._user_agent_creator
    cache_user_agent(sqs)
    plain = _in_context([], creator.to_string)
    retried = _in_context(["RETRY_MODE_STANDARD"], creator.to_string)
    assert plain != retried
    assert _features(retried) > _features(plain)
    for n in range(MAX_ENTRIES + 5):  # past MAX_ENTRIES the memory starts again, still right
        token = set_context(ClientContext(features={f"x{n}"}))
        try:
            assert f"x{n}" in _features(creator.to_string())
        finally:
            reset_context(token)
    assert _in_context([], creator.to_string) == plain


def test_a_client_without_botocores_internals_is_left_alone() -> None:
    class Other:
        pass

    assert not cache_user_agent(Other())


def test_a_creator_that_takes_no_attributes_is_left_alone() -> None:
    class Slotted:
        __slots__ = ()

        def to_string(self) -> str:
            return "ua"

    class Client:
        _user_agent_creator = Slotted()

    assert not cache_user_agent(Client())
    assert Client._user_agent_creator.to_string() == "ua"


async def test_the_request_path_uses_the_remembered_header(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    creator = sqs._user_agent_creator
    cache_user_agent(sqs)
    remembered = creator.to_string()

    def rebuilt(self: Any) -> str:
        raise AssertionError("built again")

    monkeypatch.setattr(UserAgentString, "to_string", rebuilt)
    request = AWSRequest(method="POST", url="http://127.0.0.1:1/", headers={"User-Agent": "x"})
    creator.rebuild_and_replace_user_agent_handler(operation_name="ReceiveMessage", request=request)
    assert request.headers["User-Agent"] == remembered
