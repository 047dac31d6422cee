"""SNS bodies are form-encoded once, and SQS batches bus checked are JSON-encoded directly: both
to exactly the bytes botocore itself would send."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
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


# -- SQS and SNS: batch entries bus marked are serialised without botocore's shape walks ----------

ANY_TEXT = st.text(max_size=30)  # lone surrogates too: both ways treat them alike
ATTRIBUTE = st.fixed_dictionaries(
    {"DataType": st.sampled_from(["String", "Number"]), "StringValue": ANY_TEXT}
)


def entries_with(body: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"Id": ANY_TEXT, body: ANY_TEXT},
        optional={
            "MessageAttributes": st.dictionaries(ANY_TEXT, ATTRIBUTE, max_size=3),
            "MessageGroupId": ANY_TEXT,
            "MessageDeduplicationId": ANY_TEXT,
        },
    )


def _client(service: str) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )


@dataclass(frozen=True)
class Case:
    """One service's batch operation: botocore's serializer and ours."""

    client: Any
    model: Any
    light: LightSerializer
    target: str
    entries: str

    @classmethod
    def of(cls, service: str, operation: str, target: str, entries: str) -> Case:
        client = _client(service)
        full = client._serializer
        model = client.meta.service_model.operation_model(operation)
        return cls(client, model, LightSerializer(full, full._serializer), target, entries)

    @property
    def full(self) -> Any:
        return self.client._serializer

    def params(self, target: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {self.target: target, self.entries: entries}


SQS = Case.of("sqs", "SendMessageBatch", "QueueUrl", "Entries")
SNS = Case.of("sns", "PublishBatch", "TopicArn", "PublishBatchRequestEntries")


@given(st.lists(entries_with("MessageBody"), min_size=1, max_size=10), ANY_TEXT)
def test_light_sqs_entries_encode_to_botocores_own_request(
    entries: list[dict[str, Any]], url: str
) -> None:
    light = LightEntries(copy.deepcopy(entries))
    ours = SQS.light.serialize_to_request(SQS.params(url, light), SQS.model)
    theirs = SQS.full.serialize_to_request(SQS.params(url, entries), SQS.model)
    assert ours == theirs
    assert b'"Entries": [{"' in ours["body"]  # the entries are in it, not left out


@given(st.lists(entries_with("Message"), min_size=1, max_size=10), ANY_TEXT)
def test_light_sns_entries_serialise_to_botocores_own_request(
    entries: list[dict[str, Any]], arn: str
) -> None:
    light = LightEntries(copy.deepcopy(entries))
    ours = SNS.light.serialize_to_request(SNS.params(arn, light), SNS.model)
    theirs = SNS.full.serialize_to_request(SNS.params(arn, entries), SNS.model)
    assert ours == theirs
    assert list(ours["body"].items()) == list(theirs["body"].items())  # in the same order
    assert "PublishBatchRequestEntries.member.1.Id" in ours["body"]


@pytest.mark.parametrize(
    "entry",
    [
        {"Id": "1"},  # no body: botocore must report it
        {"Id": 1, "MessageBody": "b"},
        {"Id": "1", "MessageBody": "b", "DelaySeconds": 5},
        {"Id": "1", "MessageBody": "b", "Message": "m"},
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
@pytest.mark.parametrize("case", [SQS, SNS], ids=["sqs", "sns"])
def test_entries_of_another_form_go_botocores_whole_way(case: Case, entry: dict[str, Any]) -> None:
    if case is SNS and "MessageBody" in entry:
        entry = {("Message" if k == "MessageBody" else k): v for k, v in entry.items()}
    params = case.params("q", LightEntries([entry]))
    try:
        theirs = case.full.serialize_to_request(params, case.model)
    except ParamValidationError as exc:
        with pytest.raises(ParamValidationError, match=re.escape(str(exc))):
            case.light.serialize_to_request(params, case.model)
    else:
        assert case.light.serialize_to_request(params, case.model) == theirs


def test_entries_are_checked_when_serialised_not_when_marked() -> None:
    """A botocore handler (OpenTelemetry's SQS extension adds a message attribute) may change
    the entries after the sender made them: what is checked is what is sent."""
    entries = LightEntries([{"Id": "1", "MessageBody": "b", "MessageAttributes": {}}])
    entries[0]["MessageAttributes"]["traceparent"] = {"DataType": "String", "StringValue": 5}
    with pytest.raises(ParamValidationError, match="StringValue"):
        SQS.light.serialize_to_request(SQS.params("q", entries), SQS.model)


def test_only_the_light_operations_with_their_two_parameters_are_serialised_directly() -> None:
    entries = LightEntries([{"Id": "1", "MessageBody": "b"}])
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        SQS.light.serialize_to_request({**SQS.params("q", entries), "X": "y"}, SQS.model)
    with pytest.raises(ParamValidationError, match="QueueUrl"):
        SQS.light.serialize_to_request({"QueueUrl": 5, "Entries": entries}, SQS.model)
    none = SQS.params("q", LightEntries())  # botocore sends an empty list as it is: so must we
    assert SQS.light.serialize_to_request(none, SQS.model) == SQS.full.serialize_to_request(
        none, SQS.model
    )
    delete = SQS.client.meta.service_model.operation_model("DeleteMessageBatch")
    with pytest.raises(ParamValidationError, match="ReceiptHandle"):
        SQS.light.serialize_to_request(SQS.params("q", entries), delete)
    backwards = {"PublishBatchRequestEntries": LightEntries([{"Id": "1", "Message": "m"}])}
    backwards["TopicArn"] = "arn"  # botocore keeps the caller's order: so must we
    assert SNS.light.serialize_to_request(backwards, SNS.model) == SNS.full.serialize_to_request(
        backwards, SNS.model
    )


def test_install_gives_json_and_query_clients_the_light_serializer_once() -> None:
    for service in ("sqs", "sns"):
        client = _client(service)
        assert install_light_serializer(client)
        light = client._serializer
        assert isinstance(light, LightSerializer)
        assert install_light_serializer(client)
        assert client._serializer is light
    assert not install_light_serializer(SimpleNamespace())  # a stand-in client: left alone
    events = _client("events")
    assert install_light_serializer(events)  # JSON, but no light operation: botocore's way
    ec2 = _client("ec2")
    assert not install_light_serializer(ec2)  # EC2's own query dialect: left alone
    assert not isinstance(ec2._serializer, LightSerializer)
