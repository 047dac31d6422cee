"""AWS's errors as botocore raises them: ``ClientError`` with AWS's code, message and status.

Bus maps these with ``bus.aws.aws_errors`` exactly as it maps the real service's answers, so code
that reacts to an error code behaves the same against the in-memory AWS.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

NO_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"
"""What botocore reports for a missing queue (SQS's JSON protocol sends the query-compatible code)."""
INVALID = "InvalidParameterValue"


def client_error(
    operation: str, code: str, message: str, *, status: int = 400, sender_fault: bool = True
) -> ClientError:
    """The ``ClientError`` botocore raises for ``code`` answered to ``operation``."""
    response: Any = {
        "Error": {
            "Code": code,
            "Message": message,
            "Type": "Sender" if sender_fault else "Receiver",
        },
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def invalid(operation: str, message: str) -> ClientError:
    return client_error(operation, INVALID, message)


OK: dict[str, object] = {"ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0}}


def ok(**fields: object) -> dict[str, object]:
    """A successful answer: ``fields`` and the response metadata botocore adds."""
    return {**fields, **OK}
