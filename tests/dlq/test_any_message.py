"""Property tests: whatever a ReceiveMessage entry holds, the DLQ tools read it, select on it and
write it without an unexpected exception (issue 16: the tools survive anything SQS can hold).

- ``from_sqs`` turns any entry into a ``DlqMessage`` (never raises);
- any filter expression is a ``FilterError`` or a selection, and a selection's ``matches`` answers
  ``True`` or ``False`` for any message;
- ``to_record`` of any message is JSON (``dumps``) that reads back as the same record, every
  value ``show`` prints is printable, and its attributes restore to what SQS returned.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import dlq
from bus.cli.dlq_output import printable
from bus.dlq.export import dumps, sqs_attribute
from bus.dlq.letter import from_sqs
from bus.errors import FilterError

NOW = datetime(2026, 12, 2, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
envelope_like = st.fixed_dictionaries(
    {"specversion": st.just("1.0"), "id": st.text(max_size=8), "type": st.text(max_size=8)},
    optional={"data": json_values, "time": st.text(max_size=30), "eventversion": json_values},
)
bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    envelope_like.map(json.dumps),
    st.integers(1, 3_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    envelope_like.map(lambda e: json.dumps({"Type": "Notification", "Message": json.dumps(e)})),
    envelope_like.map(lambda e: json.dumps({"detail-type": "T", "source": "s", "detail": e})),
)
attribute_values = st.one_of(
    st.builds(
        lambda t, v: {"DataType": t, "StringValue": v},
        st.sampled_from(["String", "Number", "Number.float", "String.x"]),
        st.text(max_size=40) | json_values.map(json.dumps),
    ),
    st.builds(
        lambda t, v: {"DataType": t, "BinaryValue": v},
        st.sampled_from(["Binary", "Binary.gz"]),
        st.binary(max_size=20),
    ),
)
attribute_names = st.sampled_from(["bus.failure", "event_type", "event_version", "x", "é"])
entries = st.fixed_dictionaries(
    {"MessageId": st.text(max_size=10), "Body": bodies},
    optional={
        "ReceiptHandle": st.text(max_size=10),
        "MessageAttributes": st.dictionaries(attribute_names, attribute_values, max_size=5),
        "Attributes": st.dictionaries(
            st.sampled_from(["SentTimestamp", "ApproximateReceiveCount", "MessageGroupId"]),
            st.text(max_size=15) | st.integers(-(10**20), 10**20).map(str),
        ),
    },
)
_pieces = st.sampled_from(
    [
        "(", ")", "not ", " and ", " or ", "type", "id", "data.a", "data.a[0]", "failure.error",
        "failure.reason", "attributes.x", "body", "age", "receive_count", "group", "message_id",
        " == ", " != ", " < ", " >= ", " in ", " contains ", " matches ", " startswith ",
        '"x"', '"(a+)+$"', "1", "-2.5e3", "2h", "true", "null", "[1, \"a\"]",
    ]
)  # fmt: skip

SETTINGS = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@SETTINGS
@given(entries)
def test_any_entry_reads_and_writes(entry: dict[str, Any]) -> None:
    letter = from_sqs(entry)
    assert letter.body == entry["Body"]
    assert (letter.envelope is None) or (letter.decode_error is None)
    record = dlq.to_record(letter, "q")
    text = dumps(record)
    text.encode("utf-8")  # always writable as UTF-8
    assert dumps(json.loads(text)) == text  # reads back as the same record (NaN included)
    for value in (letter.body, letter.failure.error or "", letter.decode_error or ""):
        printable(value).encode("utf-8")
    restored = {n: sqs_attribute(n, v) for n, v in record["message_attributes"].items()}
    assert restored == entry.get("MessageAttributes", {})


@SETTINGS
@given(entries, st.lists(_pieces, max_size=30))
def test_any_filter_on_any_message_is_an_error_or_an_answer(
    entry: dict[str, Any], pieces: list[str]
) -> None:
    try:
        selection = dlq.Selection.build("".join(pieces))
    except FilterError:
        return
    assert selection.matches(from_sqs(entry), NOW) in (True, False)
