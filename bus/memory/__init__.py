"""An in-memory AWS (SQS, SNS, EventBridge, STS) for tests, with a virtual clock."""

from bus.memory.aws import MemoryAws
from bus.memory.clock import VirtualClock, virtual_time
from bus.memory.matching import matches_event_pattern, matches_filter_policy

__all__ = [
    "MemoryAws",
    "VirtualClock",
    "matches_event_pattern",
    "matches_filter_policy",
    "virtual_time",
]
