"""The one exception hierarchy of bus.

::

    BusError                      root: catch this to catch everything bus raises
    ├── ConfigError               the user's declarations are wrong (exit code 3)
    │   ├── TopologyError         topology.yaml: carries every Problem with file:line:col
    │   ├── SchemaError           event models, versions, upcasters, schema snapshots
    │   ├── SettingsError         region, endpoint, profile, options
    │   └── FilterError           a DLQ selection (`--filter`) is invalid: names the position
    ├── EventError                one event or message is wrong (exit code 3)
    │   ├── EventValidationError  data does not match its model (names the field)
    │   ├── UnknownEventError     event type/version not declared, or no destination
    │   ├── MessageTooLargeError  encoded event over the service limit
    │   ├── DecodeError           a consumed body cannot be unwrapped or decoded
    │   │   └── ClaimCheckError   a claim-check pointer's payload is gone, too large or refused
    │   └── ReplayError           exported dead letters refused before sending: carries every Problem
    ├── AwsError                  an AWS call failed: carries the AWS error code (exit code 4)
    │   └── PublishError          some entries of a publish failed: carries them per event
    ├── PlanError                 a change AWS cannot make in place, refused (exit code 3)
    ├── EmulatorError             the embedded LocalStack cannot be installed/started (exit code 5)
    └── HandlerError              a handler or its binding is broken (import, signature)

Handler control flow (``Retry``, ``Reject``) is not an error and lives in ``bus.control``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BusError(Exception):
    """Root of every error bus raises on purpose."""

    exit_code: int = 1


class ConfigError(BusError):
    exit_code = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in a declaration file, printed as ``FILE:LINE:COL: message``."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class TopologyError(ConfigError):
    """topology.yaml is invalid. ``problems`` lists every finding, not only the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems))
        lines = "\n".join(str(p) for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in topology:\n{lines}")


class SchemaError(ConfigError):
    """An event declaration or schema that cannot be used. ``located``: each problem's key path
    in topology.yaml (``("events", "OrderPlaced", "attributes", 1)``) and its line of the message,
    where the problem is a key's (``bus validate --imports`` places it there)."""

    def __init__(
        self, message: str, *, located: Sequence[tuple[tuple[str | int, ...], str]] = ()
    ) -> None:
        super().__init__(message)
        self.located = tuple(located)


class SettingsError(ConfigError):
    pass


class FilterError(ConfigError):
    """A DLQ selection is invalid. ``position`` is the 0-based offset in ``expression``."""

    def __init__(self, message: str, *, expression: str = "", position: int | None = None) -> None:
        self.expression = expression
        self.position = position
        text = f"invalid filter: {message}"
        if position is not None:
            text = f"invalid filter at position {position + 1}: {message}"
            if expression:
                text += f"\n  {expression}\n  {' ' * position}^"
        super().__init__(text)


class EventError(BusError):
    exit_code = 3


class EventValidationError(EventError):
    """Event data does not match its model. ``fields``: the paths of the rejected fields its
    message names (all of them, unless there are too many: ``bus.schema.registry.validation_error``)."""

    def __init__(self, event_type: str, message: str, fields: Sequence[str] = ()) -> None:
        self.event_type = event_type
        self.fields = tuple(fields)
        super().__init__(message)


class UnknownEventError(EventError):
    pass


class MessageTooLargeError(EventError):
    pass


class DecodeError(EventError):
    """A consumed message cannot be decoded. ``message_id`` names it when known."""

    def __init__(self, message: str, *, message_id: str | None = None) -> None:
        self.message_id = message_id
        self.detail = message
        """What is wrong, without the message id."""
        prefix = f"message {message_id}: " if message_id else ""
        super().__init__(prefix + message)


class ClaimCheckError(DecodeError):
    """A claim-check pointer cannot be resolved for good: ``reason`` is ``claim-check-missing``
    (the object or bucket is gone), ``claim-check-too-large`` (over ``claim_check.max_size``) or
    ``claim-check-refused`` (its bucket is not in ``claim_check.read_from``: never read)."""

    def __init__(self, message: str, *, reason: str, message_id: str | None = None) -> None:
        self.reason = reason
        super().__init__(message, message_id=message_id)


class ReplayError(EventError):
    """Exported dead letters that cannot be replayed; nothing was sent. One ``Problem`` per line."""

    def __init__(self, problems: Sequence[Problem], *, more: int = 0) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems))
        self.more = more
        """Invalid lines found past the ones listed (a file with many keeps memory bounded)."""
        lines = "\n".join(str(p) for p in self.problems)
        if more:
            lines += f"\n... and {more} more invalid line{'s' if more != 1 else ''} not listed"
        count = len(self.problems) + more
        super().__init__(
            f"nothing replayed: {count} invalid message{'s' if count != 1 else ''}:\n{lines}"
        )


class AwsError(BusError):
    """An AWS call failed. ``code`` is AWS's error code (e.g. ``AWS.SimpleQueueService.NonExistentQueue``)."""

    exit_code = 4

    def __init__(self, message: str, *, code: str, operation: str = "") -> None:
        self.code = code
        self.operation = operation
        super().__init__(message)


class PublishError(AwsError):
    """Some entries of a publish failed after retries. ``failures`` maps entry index -> reason."""

    def __init__(
        self, message: str, *, failures: dict[int, str], code: str = "PartialFailure"
    ) -> None:
        self.failures = dict(failures)
        super().__init__(message, code=code, operation="publish")


class PlanError(BusError):
    exit_code = 3


class EmulatorError(BusError):
    exit_code = 5


class HandlerError(BusError):
    exit_code = 3
