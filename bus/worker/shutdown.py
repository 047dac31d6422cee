"""SIGTERM/SIGINT for a worker process: the first asks for a graceful stop, the second exits now.

Exiting at once is safe: whatever the worker had not deleted becomes visible again after its
visibility timeout. Installed by the CLI (``bus worker``, ``bus up``), never on import.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import structlog

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_stop_signals(
    stop: asyncio.Event,
    *,
    log: structlog.typing.FilteringBoundLogger | None = None,
    exit_now: Callable[[int], None] = os._exit,
) -> Callable[[], None]:
    """Route SIGTERM/SIGINT to ``stop``; a second signal calls ``exit_now(128 + signal)``.

    Returns a function that restores the previous handlers.
    """
    loop = asyncio.get_running_loop()
    logger = log or structlog.get_logger("bus.worker")

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            logger.warning("second signal: exiting now", signal=name)
            exit_now(128 + signum)
            return
        logger.info("stop requested; finishing in-flight messages", signal=name)
        stop.set()

    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)

    def restore() -> None:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)

    return restore
