"""A handler module that takes a minute to import (``bus worker``'s start-up test interrupts it).

It drops the file named by ``BUS_TEST_IMPORTING`` when its import begins.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.worker.apps import Ping

_marker = os.environ.get("BUS_TEST_IMPORTING")
if _marker:
    Path(_marker).write_text("importing")
    time.sleep(60)


async def handle(event: Ping) -> None:
    """Never called: the test stops the worker while this module is being imported."""
