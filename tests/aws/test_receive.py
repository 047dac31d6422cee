"""``bus.aws.receive``: the lighter ReceiveMessage parse gives exactly what botocore's own parse
gives, for any answer (generated), and leaves errors to botocore."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.parsers import JSONParser
from botocore.session import get_session
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.aws.receive import EMPTY, parse_messages, parse_receive

SHAPE = get_session().get_service_model("sqs").operation_model("ReceiveMessage").output_shape
HEADERS = {"x-amzn-requestid": "req-1", "Content-Type": "application/x-amz-json-1.0"}


def _response(body: bytes, status: int = 200) -> dict[str, Any]:
    return {
        "headers": dict(HEADERS),
        "status_code": status,
        "body": body,
        "context": {"operation_name": "ReceiveMessage"},
    }


def _parse(response: dict[str, Any], custom: dict[str, Any]) -> Any:
    """As the endpoint does: botocore's parse, updated with the handlers' customized answer; or
    the type of the error raised."""
    try:
        parsed = JSONParser().parse(response, SHAPE)
        parsed.update(custom)
    except Exception as exc:
        return type(exc)
    return parsed


def botocore_parse(body: bytes, status: int = 200) -> Any:
    """What botocore makes of the answer alone."""
    return _parse(_response(body, status), {})


def bus_parse(body: bytes, status: int = 200) -> Any:
    """The same answer through ``parse_receive`` first, as the client's event system runs it."""
    response, custom = _response(body, status), {}
    parse_receive(response_dict=response, customized_response_dict=custom)
    return _parse(response, custom)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


text = st.text(max_size=8)
junk = st.one_of(st.none(), st.integers(), st.booleans(), text, st.lists(st.integers(), max_size=2))
good_blob = st.binary(max_size=12).map(b64)
bad_blob = st.sampled_from(["not base64!", "QQ=", "é"])


def answers(odd: bool) -> st.SearchStrategy[Any]:
    """ReceiveMessage answers: of the documented shape (``null`` members, map values and list items
    included), or with ``odd`` also members of other JSON types, bad base64 and stray values."""

    def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(*[good] * 8, st.none(), junk) if odd else st.one_of(*[good] * 8, st.none())

    blob = st.one_of(*[good_blob] * 8, bad_blob) if odd else good_blob
    extra = {"Unmodelled": junk}
    attribute_value = st.fixed_dictionaries(
        {},
        optional={
            "DataType": maybe(st.sampled_from(["String", "Number", "Binary", "String.custom"])),
            "StringValue": maybe(text),
            "BinaryValue": maybe(blob),
            "StringListValues": maybe(st.lists(st.one_of(text, st.none()), max_size=3)),
            "BinaryListValues": maybe(st.lists(st.one_of(blob, st.none()), max_size=3)),
            **extra,
        },
    )
    message = st.fixed_dictionaries(
        {},
        optional={
            "MessageId": maybe(text),
            "ReceiptHandle": maybe(text),
            "MD5OfBody": maybe(text),
            "Body": maybe(text),
            "MD5OfMessageAttributes": maybe(text),
            "Attributes": maybe(st.dictionaries(text, st.one_of(text, st.none()), max_size=4)),
            "MessageAttributes": maybe(
                st.dictionaries(text, st.one_of(*[attribute_value] * 6, st.none()), max_size=3)
            ),
            **extra,
        },
    )
    top = st.fixed_dictionaries(
        {}, optional={"Messages": maybe(st.lists(maybe(message), max_size=4)), **extra}
    )
    return st.one_of(*[top] * 8, junk) if odd else top


@settings(max_examples=300, deadline=None)
@given(answers(odd=False))
def test_answers_of_the_documented_shape_parse_as_botocore_parses_them(obj: Any) -> None:
    body = json.dumps(obj).encode()
    response, custom = _response(body), {}
    parse_receive(response_dict=response, customized_response_dict=custom)
    assert response["body"] == EMPTY  # taken by the lighter parse
    assert _parse(response, custom) == botocore_parse(body)


@settings(max_examples=300, deadline=None)
@given(answers(odd=True))
def test_any_answer_parses_as_botocore_parses_it(obj: Any) -> None:
    body = json.dumps(obj).encode()
    assert bus_parse(body) == botocore_parse(body)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[1, 2]", b"null", b'{"Messages": "abc"}', b"[" * 5000],
)
def test_what_it_does_not_recognise_is_botocores(body: bytes) -> None:
    response, custom = _response(body), {}
    parse_receive(response_dict=response, customized_response_dict=custom)
    assert response["body"] == body
    assert custom == {}
    assert bus_parse(body) == botocore_parse(body)


def test_a_real_answer_binary_values_decoded_and_the_body_left_empty_for_botocore() -> None:
    answer = {
        "Messages": [
            {
                "MessageId": "m-1",
                "ReceiptHandle": "r-1",
                "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e",
                "Body": '{"specversion": "1.0"}',
                "Attributes": {"ApproximateReceiveCount": "2", "MessageGroupId": "g"},
                "MD5OfMessageAttributes": "abc",
                "MessageAttributes": {
                    "event_type": {"StringValue": "OrderPlaced", "DataType": "String"},
                    "blob": {"BinaryValue": b64(b"\x00\xffbus"), "DataType": "Binary"},
                    "list": {"BinaryListValues": [b64(b"a"), None], "DataType": "Binary"},
                },
            }
        ]
    }
    body = json.dumps(answer).encode()
    response, custom = _response(body), {}
    parse_receive(response_dict=response, customized_response_dict=custom)
    assert response["body"] == EMPTY  # botocore walks nothing
    (msg,) = custom["Messages"]
    assert msg["MessageAttributes"]["blob"] == {"BinaryValue": b"\x00\xffbus", "DataType": "Binary"}
    assert msg["MessageAttributes"]["list"]["BinaryListValues"] == [b"a", None]
    parsed = bus_parse(body)
    assert parsed == botocore_parse(body)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_an_answer_without_messages_has_none() -> None:
    assert parse_messages(b"{}") is None
    assert bus_parse(b"{}") == botocore_parse(b"{}")
    assert "Messages" not in bus_parse(b"{}")


@pytest.mark.parametrize("status", [400, 403, 500, 503])
def test_error_answers_are_left_to_botocore(status: int) -> None:
    body = json.dumps(
        {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The queue does not exist."}
    ).encode()
    response, custom = _response(body, status), {}
    parse_receive(response_dict=response, customized_response_dict=custom)
    assert response["body"] == body
    assert custom == {}
    parsed = bus_parse(body, status)
    assert parsed == botocore_parse(body, status)
    assert parsed["Error"]["Code"] == "QueueDoesNotExist"
