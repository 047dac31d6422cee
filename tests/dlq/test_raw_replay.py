"""Records the tools cannot decode as envelopes, exported and replayed with ``--raw``: the record
keeps body and attributes (lone surrogates escaped, binary as base64 with its type) and replay
restores them exactly. Pure record logic, and the replay's control flow on the in-memory AWS
(what SQS itself does with such messages: ``test_toxic.py`` against LocalStack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus import dlq
from bus.dlq.export import dumps, sqs_attribute
from bus.dlq.letter import from_sqs
from bus.dlq.queues import QueueRef
from bus.dlq.send import Outgoing, refusal
from bus.errors import ReplayError
from bus.schema.registry import Registry
from bus.topology.load import load_topology
from tests.dlq.memory import Sqs

ATTRIBUTES: dict[str, dict[str, Any]] = {
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"},
    "gz": {"DataType": "Binary.gz", "BinaryValue": b"\x1f\x8b\x08\x00"},
    "ratio": {"DataType": "Number.float", "StringValue": "1.5e3"},
    "note": {"DataType": "String.custom", "StringValue": "é \u2028 x"},
}
BODIES = [
    "plain text, é \u2028 \u2029 \x85",
    "{not json",
    '{"a": 1}',
    '{"a":' * 100 + "1" + "}" * 100,
    "",
]


def _round_trip(body: str, attributes: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A message through ``to_record``, the export's text and back, as replay reads it."""
    letter = from_sqs({"MessageId": "m-1", "Body": body, "MessageAttributes": attributes})
    text = dumps(dlq.to_record(letter, "q-dlq"))
    assert len(text.splitlines()) == 1  # one line, whatever line separators the text holds
    record = json.loads(text)
    restored = {n: sqs_attribute(n, v) for n, v in record["message_attributes"].items()}
    return record["body"], restored


@pytest.mark.parametrize("body", [*BODIES, "lone \ud800 surrogate", "\udfff"])
def test_a_record_keeps_body_and_attributes_exactly(body: str) -> None:
    assert _round_trip(body, ATTRIBUTES) == (body, ATTRIBUTES)


@given(
    body=st.text(),
    values=st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(
            st.builds(
                lambda t, v: {"DataType": t, "StringValue": v},
                st.sampled_from(["String", "Number", "String.x", "Number.float"]),
                st.text(),
            ),
            st.builds(
                lambda t, v: {"DataType": t, "BinaryValue": v},
                st.sampled_from(["Binary", "Binary.gz"]),
                st.binary(),
            ),
        ),
        max_size=10,
    ),
)
def test_any_body_and_attributes_round_trip(body: str, values: dict[str, Any]) -> None:
    assert _round_trip(body, values) == (body, values)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x", "not an object with a DataType"),
        ({"StringValue": "x"}, "not an object with a DataType"),
        ({"DataType": "Binary", "BinaryValue": "AAA="}, "no StringValue or base64 BinaryValue"),
        (
            {"DataType": "Binary", "BinaryValue": "*", "Encoding": "base64"},
            "BinaryValue is not base64",
        ),
    ],
)
def test_a_broken_attribute_is_named(value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=f"message attribute 'a': {problem}"):
        sqs_attribute("a", value)


def test_text_sqs_cannot_hold_is_refused_before_any_call() -> None:
    queue = QueueRef(name="q", url="u", arn="a")
    assert refusal(Outgoing(key="1", body="ok", attributes=ATTRIBUTES), queue) is None
    refused = refusal(Outgoing(key="1", body="ab\ud800", attributes={}), queue)
    assert (
        refused == "body is not valid Unicode (a lone surrogate at character 2): SQS cannot hold it"
    )
    note = {"n": {"DataType": "String", "StringValue": "\udc80"}}
    refused = refusal(Outgoing(key="1", body="ok", attributes=note), queue)
    assert refused is not None
    assert refused.startswith("message attribute 'n' is not valid Unicode")
    empty = refusal(Outgoing(key="1", body="", attributes={}), queue)
    assert empty == "the body is empty: SQS refuses a message without one"
    for text, code in (("a\x00b", "U+0000 at character 1"), ("\ufffe", "U+FFFE at character 0")):
        refused = refusal(Outgoing(key="1", body=text, attributes={}), queue)
        assert (
            refused
            == f"body holds {code}, a character SQS refuses (it takes XML 1.0's characters only)"
        )
    bell = {"n": {"DataType": "String", "StringValue": "ring\x07"}}
    refused = refusal(Outgoing(key="1", body="ok", attributes=bell), queue)
    assert refused is not None
    assert refused.startswith("message attribute 'n' holds U+0007 at character 4")


# -- replay on the in-memory SQS ------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    path = tmp_path / "topology.yaml"
    path.write_text("name: raw\nqueues:\n  orders: {}\n")
    return Registry.from_topology(load_topology(path), tmp_path)


HELD = [b for b in BODIES if b]
"""What a queue can hold: SQS refuses an empty body (the record of one round-trips all the same)."""


async def test_replay_raw_sends_what_was_exported(registry: Registry, tmp_path: Path) -> None:
    sqs = Sqs()
    dead, target = sqs.queue("orders-dlq"), sqs.queue("orders")
    for body in HELD:
        dead.put(body, attributes=dict(ATTRIBUTES))
    aws = sqs.clients()
    path = tmp_path / "dead.jsonl"
    assert (await dlq.export(aws, dead.url, path, wait_seconds=0)).exported == len(HELD)

    with pytest.raises(ReplayError) as refused:  # without --raw: refused, and says why
        await dlq.replay(aws, path, registry=registry, to=target.url)
    assert len(refused.value.problems) == len(HELD)
    assert "(--raw sends it as exported)" in str(refused.value)
    assert target.messages == []

    dry = await dlq.replay(aws, path, registry=registry, to=target.url, dry_run=True, raw=True)
    assert (dry.sent, dry.raw, target.messages) == (0, len(HELD), [])
    report = await dlq.replay(aws, path, registry=registry, to=target.url, raw=True)
    assert (report.sent, report.raw, report.failed) == (len(HELD), len(HELD), {})
    assert sorted(m.body for m in target.messages) == sorted(HELD)
    assert all(m.attributes == ATTRIBUTES for m in target.messages)


async def test_replay_raw_refuses_a_lone_surrogate_with_its_line(
    registry: Registry, tmp_path: Path
) -> None:
    sqs = Sqs()
    target = sqs.queue("orders")
    path = tmp_path / "edited.jsonl"
    record = {"format": "bus.dlq/1", "envelope": None, "body": "x\ud800", "message_attributes": {}}
    path.write_text(dumps({**record, "body": "fine"}) + "\n" + dumps(record) + "\n")
    with pytest.raises(ReplayError) as refused:
        await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    (problem,) = refused.value.problems
    assert problem.line == 2
    assert "body is not valid Unicode (a lone surrogate at character 1)" in problem.message
    assert target.messages == []  # nothing sent when any line is refused


async def test_replay_reads_records_holding_unicode_line_separators(
    registry: Registry, tmp_path: Path
) -> None:
    sqs = Sqs()
    target = sqs.queue("orders")
    path = tmp_path / "edited.jsonl"  # written by another tool: separators left as they are
    record = {"envelope": None, "body": "a\u2028b\u2029c\x85d", "message_attributes": {}}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    report = await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    assert (report.sent, [m.body for m in target.messages]) == (1, [record["body"]])


async def test_replay_names_the_lines_that_are_not_utf8_and_reads_past_a_byte_order_mark(
    registry: Registry, tmp_path: Path
) -> None:
    sqs = Sqs()
    target = sqs.queue("orders")
    path = tmp_path / "edited.jsonl"  # saved by an editor: a BOM, and a line in Latin-1
    record = {"envelope": None, "body": "café", "message_attributes": {}}
    good = json.dumps(record, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\n" + good.encode("latin-1") + b"\n")
    with pytest.raises(ReplayError) as refused:
        await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    (problem,) = refused.value.problems
    assert str(problem) == f"{path}:2:1: not UTF-8 text (byte 32 of the line)"
    assert target.messages == []
    path.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\n")
    report = await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    assert [m.body for m in target.messages] == ["café"]
    assert report.sent == 1
