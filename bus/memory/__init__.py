"""An in-memory AWS (SQS, SNS, EventBridge, STS; S3, DynamoDB tables, CloudWatch alarms and Lambda
mappings as bus manages them) for tests, with a virtual clock."""

from bus.memory.aws import MemoryAws
from bus.memory.clock import VirtualClock, virtual_time
from bus.memory.faults import BatchEntry, Call, Faults, Rule, entry_failure
from bus.memory.harness import Harness, NotIdleError, open_harness
from bus.memory.matching import matches_event_pattern, matches_filter_policy

__all__ = [
    "BatchEntry",
    "Call",
    "Faults",
    "Harness",
    "MemoryAws",
    "NotIdleError",
    "Rule",
    "VirtualClock",
    "entry_failure",
    "matches_event_pattern",
    "matches_filter_policy",
    "open_harness",
    "virtual_time",
]
