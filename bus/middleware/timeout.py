"""A time limit on each try of a handler (``timeout:`` seconds in the handler section).

On expiry the handler is cancelled and the delivery fails with ``HandlerTimeout`` (a
``TimeoutError``): the retry policy decides as for any error (``TimeoutError`` is transient by
default: tried again in-process, then redelivered), and a dead-letter or redelivery says
``reason: timeout``. A hung handler so never holds its message, and its FIFO group, for SQS's
12 hours.
"""

from __future__ import annotations

import asyncio

from bus.errors import HandlerError
from bus.middleware.consume import CallNext, Incoming


class HandlerTimeout(HandlerError, TimeoutError):
    """A handler ran past its queue's ``timeout:``."""


class Timeout:
    """The consume middleware cancelling the rest of the pipeline after ``delivery.timeout``."""

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        seconds = delivery.timeout
        if seconds is None or delivery.outcome is not None:
            await call_next(delivery)
            return
        try:
            async with asyncio.timeout(seconds) as scope:
                await call_next(delivery)
        except TimeoutError:
            if not scope.expired():
                raise
            delivery.fail(HandlerTimeout(f"handler ran past its timeout of {seconds:g}s"))
