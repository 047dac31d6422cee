"""The worker's public names are part of ``bus.__all__``; its constructor refuses what it would
otherwise drop."""

from __future__ import annotations

from pathlib import Path

import pytest

import bus
from bus.control import Reject, Retry
from bus.memory import MemoryAws
from bus.middleware import PublishMiddleware
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.topology.load import load_topology
from bus.worker import Context, Worker, WorkerOptions, WorkerParts

ROOT = Path(__file__).resolve().parents[2]


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


async def test_publish_middleware_with_a_publisher_of_ones_own_is_refused_not_dropped() -> None:
    root = ROOT
    topology = load_topology(root / "topology.yaml")
    registry = Registry.from_topology(topology, root)
    async with MemoryAws() as aws:
        own = Publisher(aws, registry, topology, None)
        with pytest.raises(TypeError, match="give the middleware to that Publisher"):
            Worker(
                aws, topology, base_dir=root, publish_middleware=[PublishMiddleware()],
                parts=WorkerParts(registry=registry, publisher=own),
            )  # fmt: skip
        worker = Worker(aws, topology, base_dir=root, parts=WorkerParts(publisher=own))
        assert worker.publisher is own
