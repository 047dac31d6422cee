"""Send prepared events to one destination in batches, retrying failed entries only.

One attempt sends entries in batches (several at once for standard destinations; one after another
for FIFO ones, so a group's order holds) and records each entry's outcome. Entries that AWS answered
as failed with a throttling or server-side code are sent again, in fresh batches, after an
exponential, jittered wait (``PublishRetry``); entries that failed for any other reason are final,
and so are the entries of a call that failed as a whole (botocore has retried that call already).
A sender that raises fails its batch's entries with the error's type as the code: every entry ends
with an outcome. On a FIFO destination a retried entry can land after later entries
of its message group. ``publish_many`` makes its first attempt as a pipeline (``pipeline``) and
then calls ``retry_failed``; ``deliver`` does both for a list of events already prepared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bus.aws.backoff import RetryConfig
from bus.publish.prepare import Prepared
from bus.publish.senders import EntryOutcome, Sender, batches, entry_id, failed_outcomes

sleep = asyncio.sleep
"""How retries wait (a test records the waits by replacing it)."""

Outcomes = dict[str, EntryOutcome]
"""Each entry's latest outcome, by entry id."""


PublishRetry = RetryConfig
"""How often and how patiently failed entries are sent again: ``bus.aws.backoff.RetryConfig`` (the
one retry-config shape), by default 5 sends, 0.2 s doubling up to 5 s, equal jitter."""


async def send_batch(
    sender: Sender, batch: Sequence[Prepared], limiter: asyncio.Semaphore, final: Outcomes
) -> list[Prepared]:
    """One call; record each entry's outcome in ``final``; return the entries worth retrying.

    Whatever the sender raises (no credentials, a bug) becomes each entry's final outcome."""
    async with limiter:
        try:
            outcomes = await sender.send(batch)
        except Exception as exc:
            outcomes = failed_outcomes(batch, exc)
    for outcome in outcomes:
        final[outcome.entry_id] = outcome
    return [item for item in batch if final[entry_id(item)].retryable]


async def send_all(
    sender: Sender, items: Sequence[Prepared], limiter: asyncio.Semaphore, final: Outcomes
) -> list[Prepared]:
    """One attempt at every item; return the entries worth retrying, in order."""
    channel = sender.channel
    groups = batches(items, lambda item: item.entry_size(channel), max_bytes=channel.batch_bytes)
    if channel.fifo:
        failed = [i for group in groups for i in await send_batch(sender, group, limiter, final)]
    else:
        answers = await asyncio.gather(*(send_batch(sender, g, limiter, final) for g in groups))
        failed = [i for answer in answers for i in answer]
    return sorted(failed, key=lambda item: item.index)


async def retry_failed(
    sender: Sender,
    failed: Sequence[Prepared],
    final: Outcomes,
    *,
    retry: PublishRetry,
    limiter: asyncio.Semaphore,
) -> None:
    """Send ``failed`` (after their first attempt) again until they succeed or attempts run out."""
    pending = sorted(failed, key=lambda item: item.index)
    for number in range(1, retry.attempts):
        if not pending:
            return
        await sleep(retry.delay(number))
        pending = await send_all(sender, pending, limiter, final)


async def deliver(
    sender: Sender,
    items: Sequence[Prepared],
    *,
    retry: PublishRetry,
    limiter: asyncio.Semaphore,
) -> Outcomes:
    """Send ``items`` through ``sender``; return the final outcome of each, by entry id."""
    final: Outcomes = {}
    failed = await send_all(sender, items, limiter, final)
    await retry_failed(sender, failed, final, retry=retry, limiter=limiter)
    return final
