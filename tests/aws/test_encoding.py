"""SNS bodies are form-encoded once, to exactly the bytes botocore itself would send."""

from __future__ import annotations

from botocore.awsrequest import AWSRequest
from hypothesis import given
from hypothesis import strategies as st

from bus.aws.encoding import encode_query_body_once

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
