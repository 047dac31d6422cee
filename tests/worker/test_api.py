"""The worker's public names are part of ``bus.__all__``."""

from __future__ import annotations

import bus
from bus.control import Reject, Retry
from bus.worker import Context, Worker, WorkerOptions


def test_worker_api_is_public() -> None:
    for name, obj in {
        "Worker": Worker,
        "WorkerOptions": WorkerOptions,
        "Context": Context,
        "Retry": Retry,
        "Reject": Reject,
    }.items():
        assert name in bus.__all__
        assert getattr(bus, name) is obj


def test_middleware_types_and_the_idempotency_contract_are_public() -> None:
    from bus import middleware

    for name in (
        "CallNext",
        "Claim",
        "ConsumeMiddleware",
        "IdempotencyStore",
        "Incoming",
        "MemoryStore",
        "Outcome",
        "Outgoing",
        "OutgoingBatch",
        "PublishMiddleware",
    ):
        assert name in bus.__all__
        assert getattr(bus, name) is getattr(middleware, name)


def test_no_two_public_types_share_a_name() -> None:
    """Each name bus exports from its packages means one thing."""
    import bus.middleware
    import bus.publish
    import bus.worker

    seen: dict[str, object] = {}
    for module in (bus, bus.middleware, bus.publish, bus.worker):
        for name in module.__all__:
            obj = getattr(module, name)
            assert seen.setdefault(name, obj) is obj, name
