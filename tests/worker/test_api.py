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
