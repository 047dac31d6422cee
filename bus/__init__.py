"""bus: an asynchronous message-bus integration framework for Python on AWS.

Topology as data (SNS, SQS, EventBridge), schemas at both ends, workers, publishing from existing
apps and DLQ operations. The public API is what ``__all__`` lists.
"""

from bus.aws import AwsClients
from bus.aws_lambda import handler_for
from bus.control import Reject, Retry
from bus.envelope import Envelope
from bus.errors import (
    AwsError,
    BusError,
    ConfigError,
    DecodeError,
    EmulatorError,
    EventError,
    EventValidationError,
    HandlerError,
    MessageTooLargeError,
    PlanError,
    Problem,
    PublishError,
    SchemaError,
    SettingsError,
    TopologyError,
    UnknownEventError,
)
from bus.middleware import (
    CallNext,
    Claim,
    ConsumeMiddleware,
    IdempotencyStore,
    Incoming,
    MemoryStore,
    Outcome,
    Outgoing,
    OutgoingBatch,
    PublishMiddleware,
)
from bus.publish import Publisher, PublishResult, SyncPublisher
from bus.schema import EventSpec, Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import Topology
from bus.worker import Context, Worker, WorkerOptions

__version__ = "0.1.0.dev0"

__all__ = [
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
