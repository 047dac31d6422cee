"""One envelope unwrapper: the worker's decoder and the DLQ tools read a body the same way, and a
body nested too deep is a ``DecodeError`` (dead-lettered at once), never a ``RecursionError``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus.dlq.letter import WRAPPERS, unwrap
from bus.envelope import decode
from bus.errors import DecodeError

EVENTS = Path(__file__).parent / "events"
DEEP = '{"a":' * 10_000 + "1" + "}" * 10_000


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_the_worker_and_the_dlq_tools_unwrap_alike(path: Path) -> None:
    record = json.loads(path.read_text())
    body = record["Body"] if isinstance(record, dict) and "Body" in record else path.read_text()
    attributes = record.get("MessageAttributes") if isinstance(record, dict) else None
    envelope, wrapper, error = unwrap(body, attributes)
    decoded = decode(body, attributes)
    assert error is None
    assert wrapper == WRAPPERS[decoded.route]
    assert envelope is not None
    assert envelope["id"] == decoded.envelope.id


def test_a_deep_body_is_a_decode_error_for_both() -> None:
    with pytest.raises(DecodeError, match="more than 64 levels deep"):
        decode(DEEP)
    sns = json.dumps(
        {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:0:t", "Message": DEEP}
    )
    with pytest.raises(DecodeError, match="more than 64 levels deep"):
        decode(sns)
    assert unwrap(DEEP) == (
        None,
        "none",
        "body nests JSON objects and arrays more than 64 levels deep (the decoder's limit)",
    )
    envelope, _, error = unwrap(sns)
    assert envelope is None
    assert error is not None
    assert "more than 64 levels deep" in error


def test_sns_and_eventbridge_need_their_real_shape() -> None:
    """The worker's rules: an SNS notification has a TopicArn; an EventBridge event a source that
    agrees with the envelope's."""
    env = {"specversion": "1.0", "id": "e", "type": "T", "source": "shop", "data": {}}
    bad_eb = {"detail-type": "T", "source": "elsewhere", "detail": env}
    envelope, wrapper, error = unwrap(json.dumps(bad_eb))
    assert (envelope, wrapper) == (None, "none")
    assert error is not None
    assert "disagrees" in error
