"""FIFO queues: one message group at a time, in order; different groups in parallel.

SQS never hands out a group's later messages while an earlier one is in flight, so ordering only
needs care inside one receive: each group's messages run one after the other, and when one of them
is not handled (it failed, was dead-lettered, or the worker is stopping) the rest of that group's
batch is made visible again at once, unhandled, behind it, instead of being handled out of order.

A failed message to be redelivered is held in-process for its backoff (see ``Outcome.HELD``) and
then released *together with* the rest of its group, in one ordered batch: it goes back first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bus.worker.dispatcher import Outcome
from bus.worker.message import Received


def split_groups(messages: Sequence[Received]) -> list[list[Received]]:
    """The messages by ``MessageGroupId``, each group in receive order (SQS's order)."""
    groups: dict[str | None, list[Received]] = {}
    for msg in messages:
        groups.setdefault(msg.group_id, []).append(msg)
    return list(groups.values())


async def run_group(
    group: Sequence[Received],
    process: Callable[[Received], Awaitable[Outcome]],
    release: Callable[[Sequence[Received]], Awaitable[None]],
    done: Callable[[int], None],
) -> None:
    """Process ``group`` in order; after anything but success, release the rest unhandled.

    ``done(n)`` is called as messages are finished, so their slots are given back one by one.
    """
    for index, msg in enumerate(group):
        try:
            outcome = await process(msg)
        except BaseException:
            rest = group[index + 1 :]
            try:
                await release(rest)
            finally:
                done(len(group) - index)
            raise
        if outcome is Outcome.HANDLED:
            done(1)
            continue
        back = group[index:] if outcome is Outcome.HELD else group[index + 1 :]
        try:
            await release(back)
        finally:
            done(len(group) - index)
        return
