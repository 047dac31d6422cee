"""The AWS a bench script measures: ``AWS_ENDPOINT_URL`` when it is set, else an embedded LocalStack
started for the run (and stopped after it), with its environment in ``os.environ`` while the run
lasts: the service-specific endpoints (DynamoDB from the ministack beside LocalStack) are read from
there, as every AWS client reads them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from bus import emulator
from bus.settings import Settings


@contextmanager
def aws_settings() -> Iterator[tuple[Settings, int | None]]:
    """Settings for that AWS, and the process id of the LocalStack started here (else ``None``)."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield Settings.from_env(), None
        return
    instance = emulator.start(log=lambda line: print(f"   ({line})"))
    try:
        with emulator.environment(instance):
            yield Settings(endpoint_url=instance.endpoint, region=instance.region), instance.pid
    finally:
        emulator.stop(instance)
