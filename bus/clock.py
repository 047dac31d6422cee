"""bus's one clock for durations (visibility held, heartbeat, SQS's 12-hour limit): the running
event loop's time, which is ``time.monotonic`` on a real loop and the virtual clock's under
``bus.memory.virtual_time`` (so that a test's virtual minutes are minutes to the worker too);
``time.monotonic`` outside a loop."""

from __future__ import annotations

import asyncio
import time


def monotonic() -> float:
    loop = asyncio._get_running_loop()
    return time.monotonic() if loop is None else loop.time()
