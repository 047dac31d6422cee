"""The decoder's limits (issue 16 §1): any input gives an envelope or a ``DecodeError`` naming the
reason, never another exception, in time linear in its size."""

from __future__ import annotations

import json
import re
import unittest.mock
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.envelope import Decoded, decode
from bus.envelope.bounded import _TOKENS, TooDeep, depth_exceeds, loads
from bus.envelope.limits import MAX_BODY_BYTES, MAX_DEPTH, load_json
from bus.errors import DecodeError

ENVELOPE = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "shop",
    "type": "Ping",
    "data": {"key": "k"},
}


def nested(depth: int, leaf: str = "1") -> str:
    """``{"a":{"a":...leaf...}}``: ``depth`` objects."""
    return '{"a":' * depth + leaf + "}" * depth


def _refused(body: object, attributes: Any = None) -> str:
    with pytest.raises(DecodeError) as info:
        decode(body, attributes, message_id="m-1")  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5_000, 150_000])
def test_deep_nesting_is_a_decode_error(depth: int) -> None:
    assert "nests JSON objects and arrays more than 64 levels deep" in _refused(nested(depth))


def test_deep_nesting_inside_the_envelope_and_inside_an_sns_message() -> None:
    inner = json.dumps({**ENVELOPE, "data": {"x": "PLACEHOLDER"}}).replace(
        '"PLACEHOLDER"', nested(3000)
    )
    assert "body nests JSON" in _refused(inner)
    sns = {"Type": "Notification", "TopicArn": "arn:t", "Message": inner, "MessageId": "s"}
    assert "SNS notification's Message nests JSON" in _refused(json.dumps(sns))
    arrays = "[" * 100_000 + "]" * 100_000
    sns["Message"] = arrays
    assert "SNS notification's Message nests JSON" in _refused(json.dumps(sns))


def test_nesting_up_to_the_limit_is_read() -> None:
    data = json.loads(nested(MAX_DEPTH - 2))  # body (1) > data (2) > ... 64 levels in all
    assert decode(json.dumps({**ENVELOPE, "data": data})).envelope.data == data


def test_lone_surrogates_are_named_with_their_path() -> None:
    body = json.dumps({**ENVELOPE, "data": {"key": "a\ud800b"}})
    assert "\\ud800" in body  # the escape is plain ASCII: SQS carries it
    text = _refused(body)
    assert "body at data.key holds a lone surrogate (\\ud800, offset 1)" in text
    assert "lone surrogate" in _refused(json.dumps({**ENVELOPE, "id": "\udfff"}))
    assert "(the key) holds a lone surrogate" in _refused(json.dumps({**ENVELOPE, "\udc80": 1}))
    sns = {
        "Type": "Notification",
        "TopicArn": "arn:t",
        "Message": json.dumps({**ENVELOPE, "type": "\ud83d"}),
    }
    assert "SNS notification's Message at type holds a lone surrogate" in _refused(json.dumps(sns))
    assert "holds a lone surrogate" in _refused('{"specversion": "\ud800"}')


def test_bodies_that_are_not_utf8_or_not_text() -> None:
    assert "body is not UTF-8 text: byte 0xff at offset 1" in _refused(b"{\xff}")
    assert "body is int, not text" in _refused(5)
    assert "body is NoneType, not text" in _refused(None)


def test_oversized_bodies() -> None:
    big = json.dumps({**ENVELOPE, "data": {"key": "x" * MAX_BODY_BYTES}})
    assert f"the decoder reads at most {MAX_BODY_BYTES:,}" in _refused(big)
    assert "bytes; the decoder reads at most" in _refused(big.encode())
    wide = json.dumps(
        {**ENVELOPE, "data": {"key": "é" * (MAX_BODY_BYTES // 2)}}, ensure_ascii=False
    )
    assert len(wide) < MAX_BODY_BYTES < len(wide.encode())
    assert "the decoder reads at most" in _refused(wide)


def test_huge_numbers() -> None:
    assert "body is not JSON" in _refused('{"specversion": ' + "9" * 5000 + "}")
    assert "'eventversion' must be a positive integer" in _refused(
        json.dumps({**ENVELOPE, "eventversion": 10**40})
    )
    assert "'eventversion' must be a positive integer" in _refused(
        json.dumps({**ENVELOPE}).replace('"e-1"', '"e-1", "eventversion": 1e400')
    )


def test_odd_attributes() -> None:
    body = json.dumps(ENVELOPE)
    assert "message attributes are a list, not a mapping" in _refused(body, [1, 2])
    assert "attribute event_type holds a lone surrogate" in _refused(
        body, {"event_type": {"DataType": "String", "StringValue": "\ud800"}}
    )
    binary = {"event_type": {"DataType": "Binary", "BinaryValue": b"\x00"}}
    assert "attribute event_type='AA==' disagrees" in _refused(body, binary)
    custom = {
        "n": {"DataType": "Number.int", "StringValue": "3"},
        "x": {"DataType": "String"},
        "y": 7,
    }
    assert decode(body, custom).attributes == {"n": "3", "event_type": "Ping"}


# -- properties ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(
        ["1.0", "", "2026-11-23T18:04:05Z", "0001-01-01T00:00:00+01:00", "\ud800", "2", "v2"]
    ),
)
envelope_keys = st.sampled_from(
    [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "dataschema",
        "subject",
        "eventversion",
        "correlationid",
        "causationid",
        "traceparent",
        "data",
        "data_base64",
        "Type",
        "TopicArn",
        "Message",
        "MessageAttributes",
        "detail",
        "detail-type",
    ]
)
envelopes = st.dictionaries(envelope_keys, field_values, max_size=10).map(
    lambda d: {**ENVELOPE, **d}
)
attribute_values = st.one_of(
    json_values,
    st.binary(max_size=8),
    st.fixed_dictionaries(
        {"DataType": st.sampled_from(["String", "Number", "Binary", "String.x"])},
        optional={
            "StringValue": field_values,
            "BinaryValue": st.binary(max_size=4) | st.text(max_size=4),
        },
    ),
)
attributes = (
    st.none() | st.dictionaries(st.text(max_size=12), attribute_values, max_size=4) | json_values
)


def _wrap(inner: dict[str, Any], how: str) -> str:
    if how == "sns":
        return json.dumps(
            {"Type": "Notification", "TopicArn": "arn:t", "Message": json.dumps(inner)}
        )
    if how == "eventbridge":
        return json.dumps(
            {"detail-type": inner.get("type"), "source": inner.get("source"), "detail": inner}
        )
    return json.dumps(inner)


def _decode_or_error(body: object, attrs: object) -> None:
    """The property: a value, or a ``DecodeError`` that says what is wrong; anything else
    escaping (a RecursionError, a UnicodeError ...) fails the test."""
    try:
        decoded = decode(body, attrs)  # type: ignore[arg-type]
    except DecodeError as exc:
        message = str(exc)
    else:
        assert isinstance(decoded, Decoded)
        return
    assert message  # says what is wrong


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text() | st.binary(), attrs=attributes)
def test_any_text_or_bytes(body: str | bytes, attrs: object) -> None:
    _decode_or_error(body, attrs)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner=envelopes, how=st.sampled_from(["sqs", "sns", "eventbridge"]), attrs=attributes)
def test_any_envelope_on_any_route(inner: dict[str, Any], how: str, attrs: object) -> None:
    _decode_or_error(_wrap(inner, how), attrs)


@settings(max_examples=100, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=3000),
    opener=st.sampled_from(["[", '{"a":', '{"data":']),
    how=st.sampled_from(["sqs", "sns"]),
)
def test_any_depth(depth: int, opener: str, how: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "1" + closer * depth
    body = (
        json.dumps({"Type": "Notification", "TopicArn": "t", "Message": text})
        if how == "sns"
        else text
    )
    _decode_or_error(body, None)


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(alphabet=st.characters(min_codepoint=0xD700, max_codepoint=0xE100), min_size=1),
    key=envelope_keys,
)
def test_surrogates_anywhere(value: str, key: str) -> None:
    _decode_or_error(
        json.dumps({**ENVELOPE, key: value}), {key: {"DataType": "String", "StringValue": value}}
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _read(text: str) -> tuple[str, Any]:
    try:
        return "ok", load_json(text, "body", "m-1")
    except DecodeError as exc:
        return "refused", str(exc)


def _stdlib(text: str) -> tuple[str, Any]:
    """What ``load_json`` gave when it parsed with ``json.loads`` alone."""
    with unittest.mock.patch("bus.jsontext.from_json", side_effect=ValueError):
        return _read(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(value=_JSON, ascii=st.booleans())
def test_the_fast_parser_reads_json_as_the_standard_library_does(value: Any, ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii)
    assert repr(_read(text)) == repr(_stdlib(text))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.sampled_from('{}[]":,.-+eE0129 \\\n\tunltrfaN\u00e9'), max_size=30))
def test_the_fast_parser_refuses_what_the_standard_library_refuses(text: str) -> None:
    assert repr(_read(text)) == repr(_stdlib(text))


# -- the nesting check of bus.failure and the DLQ tools' JSON (bus.envelope.bounded) --------------

OPEN_STRING = "[]" * 70 + '"' + '\\"' * 100_000
"""More brackets than the limit, none nested, then a string never closed, full of escaped quotes:
the scan that looked for each string's closing quote read the rest of the text again at every one
of them (this: minutes)."""


@pytest.mark.parametrize(
    ("text", "limit", "exceeds"),
    [
        ('[[["a]"]]]', 2, True),  # the bracket in the string does not count
        ('[[["a]"]]]', 3, False),
        ('["[[[[", "]]]]{{"]', 1, False),
        ('[[["a\\"]"]]]', 2, True),  # an escaped quote does not close the string
        ('[[["a\\"]"]]]', 3, False),
        ('["\\\\", [["]"]]]', 2, True),  # an escaped backslash does not escape the quote
        ('"a"[[[', 2, True),
        ('[[["\\', 2, True),  # a backslash at the very end, in a string left open
        ('["\\', 0, True),
        ('["[[[\\', 2, True),  # after a string left open, every bracket counts, as it always did
        ('"[[[[', 3, True),
        ('"' + "[]" * 10, 1, False),
        (OPEN_STRING, MAX_DEPTH, False),
        (OPEN_STRING + "[" * (MAX_DEPTH + 1), MAX_DEPTH, True),
        ("[" * (MAX_DEPTH + 1) + OPEN_STRING, MAX_DEPTH, True),
    ],
)
def test_depth_exceeds_on_crafted_texts(text: str, limit: int, exceeds: bool) -> None:
    assert depth_exceeds(text, limit) is exceeds


_CLOSED_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def _scan(text: str, limit: int) -> bool:
    """``depth_exceeds`` as it was first written (quadratic on strings left open)."""
    depth = 0
    for token in _CLOSED_STRINGS.findall(text):
        depth += 1 if token in "[{" else -1 if token in "]}" else 0
        if depth > limit:
            return True
    return False


@settings(max_examples=500)
@given(text=st.text(alphabet='"\\[]{}a', max_size=40), limit=st.integers(0, 4))
def test_depth_exceeds_answers_as_it_always_did(text: str, limit: int) -> None:
    assert depth_exceeds(text, limit) is _scan(text, limit)


def _quotes_no_scan_covers(text: str) -> list[int]:
    """The quotes of ``text`` outside every token of the scan: at each, a string's scan started,
    read on to the end of the text and failed. None: each character is read once."""
    covered = bytearray(len(text))
    for match in _TOKENS.finditer(text):
        covered[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
    return [at for at, char in enumerate(text) if char == '"' and not covered[at]]


def test_a_scan_from_a_quote_never_fails_in_a_string_left_open() -> None:
    assert _quotes_no_scan_covers(OPEN_STRING[:2000]) == []  # was: 930 failed scans


@settings(max_examples=300)
@given(text=st.text(alphabet='"\\[]{}a', max_size=40))
def test_a_scan_from_a_quote_never_fails(text: str) -> None:
    assert _quotes_no_scan_covers(text) == []


@pytest.mark.timeout(5)
def test_strings_left_open_are_read_in_linear_time() -> None:
    huge = OPEN_STRING + '\\"' * 1_000_000  # the old scan: hours
    assert not depth_exceeds(huge, MAX_DEPTH)
    with pytest.raises(ValueError, match="Extra data") as info:
        loads(huge)
    assert not isinstance(info.value, TooDeep)
