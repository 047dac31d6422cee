"""SNS bodies are form-encoded once, and SQS batches bus checked are JSON-encoded directly: both
to exactly the bytes botocore itself would send."""

from __future__ import annotations

import copy
import re
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ParamValidationError
from hypothesis import given
from hypothesis import strategies as st

from bus.aws.encoding import (
    LightEntries,
    LightSerializer,
    encode_query_body_once,
    install_light_serializer,
)

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _request(params: dict[str, str]) -> AWSRequest:
    return AWSRequest(method="POST", url="https://sns.example/", data=dict(params))


@given(st.dictionaries(TEXT, TEXT, max_size=12))
def test_the_body_is_what_botocore_would_have_encoded(params: dict[str, str]) -> None:
    theirs = _request(params)
    ours = _request(params)
    encode_query_body_once(ours)
    assert isinstance(ours.data, str)
    assert ours.body == theirs.body
    assert ours.prepare().headers.get("Content-Length") == theirs.prepare().headers.get(
        "Content-Length"
    )


def test_a_publish_batch_body_with_awkward_characters() -> None:
    params = {
        "Action": "PublishBatch",
        "PublishBatchRequestEntries.member.1.Message": '{"a": "Zoë & co = 100% + tax?"}',
        "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue": "ü ß",
    }
    request = _request(params)
    encode_query_body_once(request)
    assert request.body == _request(params).body
    assert b"Zo%C3%AB+%26+co+%3D+100%25+%2B+tax%3F" in request.body


def test_bodies_that_are_not_parameters_are_left_alone() -> None:
    request = AWSRequest(method="POST", url="https://sqs.example/", data=b'{"QueueUrl": "q"}')
    encode_query_body_once(request)
    assert request.data == b'{"QueueUrl": "q"}'


# -- SQS: SendMessageBatch entries bus marked are encoded without botocore's shape walks ----------

SQS_OP = "SendMessageBatch"
ANY_TEXT = st.text(max_size=30)  # lone surrogates too: both ways escape them alike
ATTRIBUTE = st.fixed_dictionaries(
    {"DataType": st.sampled_from(["String", "Number"]), "StringValue": ANY_TEXT}
)
ENTRY = st.fixed_dictionaries(
    {"Id": ANY_TEXT, "MessageBody": ANY_TEXT},
    optional={
        "MessageAttributes": st.dictionaries(ANY_TEXT, ATTRIBUTE, max_size=3),
        "MessageGroupId": ANY_TEXT,
        "MessageDeduplicationId": ANY_TEXT,
    },
)


def _sqs() -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )


SQS = _sqs()
FULL = SQS._serializer
MODEL = SQS.meta.service_model.operation_model(SQS_OP)
LIGHT = LightSerializer(FULL, FULL._serializer)


@given(st.lists(ENTRY, min_size=1, max_size=10), ANY_TEXT)
def test_light_entries_encode_to_botocores_own_request(
    entries: list[dict[str, Any]], url: str
) -> None:
    light = LightEntries(copy.deepcopy(entries))
    ours = LIGHT.serialize_to_request({"QueueUrl": url, "Entries": light}, MODEL)
    theirs = FULL.serialize_to_request({"QueueUrl": url, "Entries": entries}, MODEL)
    assert ours == theirs
    assert b'"Entries": [{"' in ours["body"]  # the entries are in it, not left out


@pytest.mark.parametrize(
    "entry",
    [
        {"Id": "1"},  # no body: botocore must report it
        {"Id": 1, "MessageBody": "b"},
        {"Id": "1", "MessageBody": "b", "DelaySeconds": 5},
        {
            "Id": "1",
            "MessageBody": "b",
            "MessageAttributes": {"a": {"DataType": "Binary", "BinaryValue": b"x"}},
        },
        {
            "Id": "1",
            "MessageBody": "b",
            "MessageAttributes": {"a": {"DataType": "String", "StringValue": 7}},
        },
        {
            "Id": "1",
            "MessageBody": "b",
            "MessageAttributes": {"a": {"StringValue": "x", "Other": "y"}},
        },
    ],
)
def test_entries_of_another_form_go_botocores_whole_way(entry: dict[str, Any]) -> None:
    params = {"QueueUrl": "q", "Entries": LightEntries([entry])}
    try:
        theirs = FULL.serialize_to_request(params, MODEL)
    except ParamValidationError as exc:
        with pytest.raises(ParamValidationError, match=re.escape(str(exc))):
            LIGHT.serialize_to_request(params, MODEL)
    else:
        assert LIGHT.serialize_to_request(params, MODEL) == theirs


def test_entries_are_checked_when_serialised_not_when_marked() -> None:
    """A botocore handler (OpenTelemetry's SQS extension adds a message attribute) may change
    the entries after the sender made them: what is checked is what is sent."""
    entries = LightEntries([{"Id": "1", "MessageBody": "b", "MessageAttributes": {}}])
    entries[0]["MessageAttributes"]["traceparent"] = {"DataType": "String", "StringValue": 5}
    with pytest.raises(ParamValidationError, match="StringValue"):
        LIGHT.serialize_to_request({"QueueUrl": "q", "Entries": entries}, MODEL)


def test_only_the_light_operation_with_queue_url_and_entries_is_encoded_directly() -> None:
    entries = LightEntries([{"Id": "1", "MessageBody": "b"}])
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        LIGHT.serialize_to_request({"QueueUrl": "q", "Entries": entries, "X": "y"}, MODEL)
    with pytest.raises(ParamValidationError, match="QueueUrl"):
        LIGHT.serialize_to_request({"QueueUrl": 5, "Entries": entries}, MODEL)
    delete = SQS.meta.service_model.operation_model("DeleteMessageBatch")
    with pytest.raises(ParamValidationError, match="ReceiptHandle"):
        LIGHT.serialize_to_request({"QueueUrl": "q", "Entries": entries}, delete)


def test_install_gives_a_json_client_the_light_serializer_once() -> None:
    client = _sqs()
    assert install_light_serializer(client)
    light = client._serializer
    assert isinstance(light, LightSerializer)
    assert install_light_serializer(client)
    assert client._serializer is light
    assert not install_light_serializer(SimpleNamespace())  # a stand-in client: left alone
    sns = botocore.session.get_session().create_client(
        "sns", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    assert not install_light_serializer(sns)  # query protocol: botocore's way
    assert not isinstance(sns._serializer, LightSerializer)
