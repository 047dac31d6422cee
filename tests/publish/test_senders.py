"""How each sender reads AWS's answers: per-entry results, missing entries, whole-call failures.

The clients are stubs answering in the shapes of the botocore service models (SNS PublishBatch:
``Successful`` [Id, MessageId], ``Failed`` [Id, Code, Message, SenderFault]; SQS SendMessageBatch:
the same, ``Successful`` also carrying MD5OfMessageBody; EventBridge PutEvents: ``Entries`` in
request order, each an ``EventId`` or an ``ErrorCode``/``ErrorMessage``, and ``FailedEntryCount``).
These tests check bus's reading of such answers, not what AWS does (that is test_publisher_aws.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from bus.publish.prepare import Channel, Prepared
from bus.publish.senders import NO_RESULT, EntryOutcome, EventsSender, Sender, SnsSender, SqsSender
from tests.publish.scripted import items


@dataclass
class Stub:
    """One client method: records its calls, answers with ``answer`` (or raises it)."""

    answer: Any
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, **request: Any) -> Any:
        self.calls.append(request)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def sender_for(kind: str, answer: Any) -> tuple[Sender, Stub]:
    """A sender of ``kind`` whose one client method is a stub (``aws`` is not an AwsClients)."""
    stub = Stub(answer)
    aws: Any = SimpleNamespace(
        sns=SimpleNamespace(publish_batch=stub),
        sqs=SimpleNamespace(send_message_batch=stub),
        events=SimpleNamespace(put_events=stub),
    )
    if kind == "sns":
        return SnsSender(aws, Channel("topic", "orders"), "arn:aws:sns:r:1:t-orders"), stub
    if kind == "sqs":
        return SqsSender(aws, Channel("queue", "billing"), "http://q/t-billing"), stub
    return EventsSender(aws, Channel("bus", "shop-events"), "t-shop-events"), stub


def by_id(outcomes: list[EntryOutcome]) -> dict[str, tuple[str | None, str | None, bool]]:
    return {o.entry_id: (o.message_id, o.code, o.retryable) for o in outcomes}


FOUR: list[Prepared] = items(4)


@pytest.mark.parametrize("kind", ["sns", "sqs"])
async def test_sns_and_sqs_failed_entries_by_sender_fault_and_a_missing_entry(kind: str) -> None:
    success: dict[str, str] = {"Id": "0", "MessageId": "m-0"}
    if kind == "sqs":
        success["MD5OfMessageBody"] = "d41d8cd98f00b204e9800998ecf8427e"
    answer = {
        "Successful": [success],
        "Failed": [
            {"Id": "1", "Code": "InvalidParameterValue", "Message": "bad", "SenderFault": True},
            {"Id": "2", "Code": "InternalError", "Message": "try again", "SenderFault": False},
        ],  # entry "3" is in neither list
    }
    sender, stub = sender_for(kind, answer)
    outcomes = await sender.send(FOUR)
    assert [o.entry_id for o in outcomes] == ["0", "1", "2", "3"]
    assert by_id(outcomes) == {
        "0": ("m-0", None, False),
        "1": (None, "InvalidParameterValue", False),  # the sender's fault: final
        "2": (None, "InternalError", True),  # AWS's: retried
        "3": (None, NO_RESULT, False),  # unknown fate: reported, not resent (could duplicate)
    }
    assert outcomes[1].message == "bad"
    [request] = stub.calls
    entries = request["PublishBatchRequestEntries" if kind == "sns" else "Entries"]
    assert [e["Id"] for e in entries] == ["0", "1", "2", "3"]


async def test_sns_throttled_entries_are_retried_even_when_marked_as_the_senders_fault() -> None:
    answer = {
        "Successful": [{"Id": str(n), "MessageId": f"m-{n}"} for n in (0, 2, 3)],
        "Failed": [{"Id": "1", "Code": "Throttled", "Message": "slow", "SenderFault": True}],
    }
    sender, _ = sender_for("sns", answer)
    assert by_id(await sender.send(FOUR))["1"] == (None, "Throttled", True)


async def test_eventbridge_entries_by_error_code_and_a_missing_entry() -> None:
    answer = {
        "FailedEntryCount": 3,
        "Entries": [  # in request order; the fourth answer is missing
            {"EventId": "e-0"},
            {"ErrorCode": "MalformedDetail", "ErrorMessage": "bad JSON"},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
        ],
    }
    sender, stub = sender_for("events", answer)
    outcomes = await sender.send(FOUR)
    assert by_id(outcomes) == {
        "0": ("e-0", None, False),
        "1": (None, "MalformedDetail", False),
        "2": (None, "InternalFailure", True),
        "3": (None, NO_RESULT, False),
    }
    assert outcomes[1].message == "bad JSON"
    throttled = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}
    sender, _ = sender_for("events", throttled)
    assert by_id(await sender.send(FOUR[:1])) == {"0": (None, "ThrottlingException", True)}
    [request] = stub.calls
    assert [e["DetailType"] for e in request["Entries"]] == ["OrderPlaced"] * 4
    assert {e["EventBusName"] for e in request["Entries"]} == {"t-shop-events"}


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "MaxAttemptsReached": True},
    }
    return ClientError(response, "SendMessageBatch")


@pytest.mark.parametrize("kind", ["sns", "sqs", "events"])
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_client_error("ThrottlingException", 400), "ThrottlingException"),
        (_client_error("InternalError", 500), "InternalError"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "ConnectionError"),
        (_client_error("AccessDenied", 403), "AccessDenied"),
    ],
)
async def test_a_call_that_fails_as_a_whole_fails_every_entry_finally(
    kind: str, error: Exception, code: str
) -> None:
    """botocore has retried throttling, 5xx and connection errors already: bus does not again."""
    sender, stub = sender_for(kind, error)
    outcomes = await sender.send(FOUR)
    assert len(stub.calls) == 1
    assert {(o.code, o.retryable, o.message_id) for o in outcomes} == {(code, False, None)}
    assert [o.entry_id for o in outcomes] == ["0", "1", "2", "3"]
