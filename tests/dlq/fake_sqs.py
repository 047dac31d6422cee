"""The DLQ tools' unit tests over the one in-memory SQS (``tests.fakes.sqs``), for bus's own control
flow: what they send, delete and let go, in which order, when an entry fails, a call raises or the
task is cancelled. It claims nothing about AWS: every failure is the test's choice (``on_send``,
``on_delete``, ``hook``); ``FakeQueue.blocks_groups`` makes a FIFO queue hand out no further message
of a group while one of it is in flight, the rule SQS documents, so that a scan's accounting of
what it could not reach can be exercised. A message move task moves nothing; it runs until
cancelled. Below: the bodies and records these tests put in their queues.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bus.aws.failure import FailureRecord
from tests.fakes.sqs import Entry, Failure, FakeMessage, FakeMoveTask, FakeQueue, FakeSqs, Hook

__all__ = [
    "Entry",
    "Failure",
    "FakeMessage",
    "FakeMoveTask",
    "FakeQueue",
    "FakeSqs",
    "Hook",
    "event",
    "failure",
    "number",
]


def event(n: int, queue: str, **data: Any) -> str:
    """A bus envelope body (unique per ``n``) whose ``bus.failure`` would name ``queue``."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{n}",
            "source": "fake",
            "type": "T",
            "eventversion": 1,
            "data": {"n": n, **data},
        }
    )


def failure(queue: str) -> str:
    """A ``bus.failure`` record as the worker writes it (one bus trusts), naming ``queue``."""
    now = datetime.now(UTC)
    return FailureRecord(
        reason="rejected",
        error_type="bus.control.Reject",
        error="rejected",
        attempt=1,
        queue=queue,
        message_id="m-source",
        first_failed_at=now,
        failed_at=now,
    ).to_attribute()


def number(body: str) -> int:
    return int(json.loads(body)["data"]["n"])
