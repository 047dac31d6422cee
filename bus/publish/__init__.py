"""Publishing: the async ``Publisher``, its thread-safe ``SyncPublisher`` facade and their results.

Preparation (validate, envelope, route, size limits) is pure (``prepare``); each kind of destination
has a small sender (``senders``); ``delivery`` batches and retries failed entries only.
"""

from bus.publish.delivery import PublishRetry
from bus.publish.publisher import BoundPublisher, EventPublisher, Publisher, load_registry
from bus.publish.results import Delivery, PublishResult
from bus.publish.sync import SyncPublisher

__all__ = [
    "BoundPublisher",
    "Delivery",
    "EventPublisher",
    "PublishResult",
    "PublishRetry",
    "Publisher",
    "SyncPublisher",
    "load_registry",
]
