"""``bus.__all__`` is the public API, and no two public types of bus share a name."""

from __future__ import annotations

import importlib
import inspect

import bus
from bus.aws import AwsClients
from bus.topology.apply import converge
from bus.topology.load import load_topology

PACKAGES = (
    "bus",
    "bus.aws",
    "bus.aws_lambda",
    "bus.dlq",
    "bus.envelope",
    "bus.middleware",
    "bus.publish",
    "bus.schema",
    "bus.worker",
)


def test_bus_all_lists_what_users_need_most() -> None:
    assert bus.AwsClients is AwsClients
    assert bus.load_topology is load_topology
    assert bus.converge is converge
    assert sorted(bus.__all__) == sorted(
        [
            "AwsClients",
            "AwsError",
            "BusError",
            "CallNext",
            "Claim",
            "ConfigError",
            "ConsumeMiddleware",
            "Context",
            "DecodeError",
            "EmulatorError",
            "Envelope",
            "EventError",
            "EventSpec",
            "EventValidationError",
            "HandlerError",
            "IdempotencyStore",
            "Incoming",
            "MemoryStore",
            "MessageTooLargeError",
            "Outcome",
            "Outgoing",
            "OutgoingBatch",
            "PlanError",
            "Problem",
            "PublishError",
            "PublishMiddleware",
            "PublishResult",
            "Publisher",
            "Registry",
            "Reject",
            "Retry",
            "SchemaError",
            "Settings",
            "SettingsError",
            "SyncPublisher",
            "Topology",
            "TopologyError",
            "UnknownEventError",
            "Worker",
            "WorkerOptions",
            "__version__",
            "converge",
            "handler_for",
            "load_topology",
        ]
    )
    for name in bus.__all__:
        assert getattr(bus, name) is not None, name


def test_no_two_public_types_share_a_name() -> None:
    """Every class a bus package exports is the only exported class with its name."""
    owners: dict[str, set[str]] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                owners.setdefault(obj.__name__, set()).add(f"{obj.__module__}.{obj.__qualname__}")
    shared = {name: found for name, found in owners.items() if len(found) > 1}
    assert shared == {}


def test_the_renamed_types_are_distinct() -> None:
    from bus.aws.failure import FailureRecord
    from bus.dlq.letter import DlqMessage
    from bus.publish.prepare import EventRoute, FlowContext
    from bus.publish.senders import EntryOutcome
    from bus.retry import DeadLetterNow
    from bus.topology.model import DeadLetter

    names = [
        t.__name__
        for t in (FailureRecord, DlqMessage, EventRoute, FlowContext, EntryOutcome, DeadLetterNow)
    ]
    assert len(set(names)) == len(names)
    assert DeadLetter.__name__ not in names
