"""Send prepared events to one destination in batches, retrying failed entries only.

Each attempt sends the pending entries in batches (several batches at once for standard
destinations; one after another for FIFO ones, so a group's order holds). Entries that failed with a
throttling, server-side or connection code are retried with exponential backoff and jitter
(tenacity); entries that failed for any other reason are final. Every entry ends with an outcome.
On a FIFO destination a retried entry can land after later entries of its message group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from bus.publish.prepare import MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES, Prepared
from bus.publish.senders import Outcome, Sender, batches, entry_id


@dataclass(frozen=True)
class PublishRetry:
    """How often and how patiently failed entries are sent again."""

    attempts: int = 5
    """Sends of an entry, the first included."""
    initial: float = 0.2
    """Seconds before the first retry; doubles each time, up to ``maximum``."""
    maximum: float = 5.0
    jitter: float = 0.2
    """Up to this many random seconds added to each wait."""


def _last_result(state: RetryCallState) -> object:
    return state.outcome.result() if state.outcome is not None else None


async def deliver(
    sender: Sender,
    items: Sequence[Prepared],
    *,
    retry: PublishRetry,
    limiter: asyncio.Semaphore,
) -> dict[str, Outcome]:
    """Send ``items`` through ``sender``; return the final outcome of each, by entry id."""
    final: dict[str, Outcome] = {}
    pending: list[Prepared] = list(items)

    async def send_one(batch: list[Prepared]) -> None:
        async with limiter:
            for outcome in await sender.send(batch):
                final[outcome.entry_id] = outcome

    async def attempt() -> list[Prepared]:
        nonlocal pending
        groups = batches(pending, sender.entry_size, MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES)
        if sender.channel.fifo:
            for group in groups:
                await send_one(group)
        else:
            await asyncio.gather(*(send_one(group) for group in groups))
        pending = [i for i in pending if final[entry_id(i)].retryable]
        return pending

    retrying = AsyncRetrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential_jitter(
            multiplier=retry.initial, max=retry.maximum, jitter=retry.jitter
        ),
        retry=retry_if_result(bool),
        retry_error_callback=_last_result,
    )
    await retrying(attempt)
    return final
