"""Looking at dead letters without consuming them: ``list_queues`` (every DLQ of a topology, with
depth, oldest message and top failure reasons) and ``peek`` (decoded messages of one queue)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bus.aws import AwsClients
from bus.dlq.letter import DlqMessage, format_time
from bus.dlq.queues import DeadLetterQueue, QueueRef, Queues, queue_depth
from bus.dlq.scan import DEFAULT_WAIT_SECONDS, Scan
from bus.dlq.select import Selection
from bus.topology.feeds import DeadLetterFeed
from bus.topology.model import Topology

DEFAULT_SAMPLE = 100
"""How many messages ``list_queues`` peeks per DLQ to find the oldest one and the top reasons
(SQS has no queue attribute for the age of the oldest message; CloudWatch has, minutes late)."""
PEEK_HOLD_SECONDS = 30


@dataclass(frozen=True)
class QueueSummary:
    """One DLQ as ``bus dlq list`` shows it. Age and reasons come from a peek of ``sampled``
    messages: exact when ``sampled`` reaches ``depth``, a sample otherwise."""

    queue: QueueRef
    sources: tuple[QueueRef, ...]
    """The queues whose redrive policy points at it."""
    visible: int
    in_flight: int
    sampled: int
    oldest: datetime | None
    reasons: tuple[tuple[str, int], ...]
    unreached: int = 0
    """About how many messages the sample could not reach (in flight elsewhere, or on a FIFO queue
    of a group blocked by the messages it held); 0 when the sample stopped at its size."""
    deliveries: tuple[DeadLetterFeed, ...] = ()
    """The SNS subscriptions and rule targets whose undeliverable messages it receives."""
    gone: tuple[str, ...] = ()
    """Source queues the topology declares that do not exist."""

    @property
    def serves(self) -> list[str]:
        """What it serves, one line each: ``billing``, ``billing (gone)``, ``topic orders ->
        billing``, ..."""
        return DeadLetterQueue(self.queue, self.sources, self.deliveries, self.gone).serves()

    @property
    def depth(self) -> int:
        return self.visible + self.in_flight

    def oldest_age(self, now: datetime) -> float | None:
        return None if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "queue": self.queue.name,
            "logical": self.queue.logical,
            "url": self.queue.url,
            "sources": [s.name for s in self.sources],
            "deliveries": [d.to_json() for d in self.deliveries],
            "gone": list(self.gone),
            "serves": self.serves,
            "depth": self.depth,
            "visible": self.visible,
            "in_flight": self.in_flight,
            "oldest": format_time(self.oldest),
            "oldest_age_seconds": self.oldest_age(now),
            "sampled": self.sampled,
            "reasons": dict(self.reasons),
            "unreached": self.unreached,
        }


class Peeked(list[DlqMessage]):
    """What ``peek`` returns: the messages (a list) and ``unreached``: about how many messages it
    could not reach, because they were in flight elsewhere, or (FIFO) because SQS does not hand out
    more of a message group while earlier ones are in flight (see ``bus.dlq.scan``)."""

    def __init__(self, letters: Iterable[DlqMessage] = (), *, unreached: int = 0) -> None:
        super().__init__(letters)
        self.unreached = unreached


async def summarize(
    aws: AwsClients,
    dlq: DeadLetterQueue,
    *,
    sample: int = DEFAULT_SAMPLE,
    hold_seconds: int = PEEK_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> QueueSummary:
    """Depth, oldest message and most frequent failure reasons of one DLQ (from a peek of up to
    ``sample`` messages, held ``hold_seconds`` at most, visible again as soon as it ends)."""
    visible, in_flight = await queue_depth(aws, dlq.queue)
    letters = Peeked()
    if (visible or in_flight) and sample > 0:  # in flight only: the peek says none reached
        letters = await _sample(aws, dlq.queue, sample, hold_seconds, wait_seconds)
    reasons = Counter(letter.failure.reason for letter in letters)
    died = [d for d in (letter.died_at for letter in letters) if d is not None]
    return QueueSummary(
        queue=dlq.queue,
        sources=dlq.sources,
        visible=visible,
        in_flight=in_flight,
        sampled=len(letters),
        oldest=min(died) if died else None,
        reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        unreached=letters.unreached,
        deliveries=dlq.deliveries,
        gone=dlq.gone,
    )


async def _sample(
    aws: AwsClients, queue: QueueRef, limit: int, hold_seconds: int, wait_seconds: int
) -> Peeked:
    letters: list[DlqMessage] = []
    async with Scan(aws, queue, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        async for batch in scan:
            letters.extend(batch)
            if len(letters) >= limit:
                break
    return Peeked(letters[:limit], unreached=scan.unreached)


async def list_queues(
    aws: AwsClients,
    topology: Topology,
    env: str | None = None,
    *,
    sample: int = DEFAULT_SAMPLE,
    hold_seconds: int = PEEK_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> list[QueueSummary]:
    """Every DLQ the topology declares or derives (of queues, SNS subscriptions and rule
    targets), summarized concurrently, in topology order."""
    dlqs = await Queues(aws, topology, env).dead_letter_queues()
    summaries = (
        summarize(aws, d, sample=sample, hold_seconds=hold_seconds, wait_seconds=wait_seconds)
        for d in dlqs
    )
    return list(await asyncio.gather(*summaries))


async def peek(
    aws: AwsClients,
    queue: str,
    *,
    topology: Topology | None = None,
    env: str | None = None,
    limit: int | None = 10,
    selection: Selection | None = None,
    hold_seconds: int = PEEK_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> Peeked:
    """Up to ``limit`` (``None``: all) selected messages of ``queue``, oldest death first.

    With a limit these are the first ``limit`` selected messages SQS handed out (in no particular
    order on a standard queue), then sorted: not the ``limit`` oldest of the queue, which only a
    peek of all of it (``limit=None``) can find.

    Nothing is deleted: every message received is made visible again before this returns. Each
    peek increments the messages' ``ApproximateReceiveCount`` (SQS counts every receive). It cannot
    see messages in flight elsewhere, and on a FIFO queue it sees the first messages (up to 10) of
    each group; the result's ``unreached`` says about how many it could not reach.
    """
    ref = await Queues(aws, topology, env).resolve(queue)
    chosen = selection or Selection()
    now = datetime.now(UTC)
    letters: list[DlqMessage] = []
    async with Scan(aws, ref, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        async for batch in scan:
            letters.extend(letter for letter in batch if chosen.matches(letter, now))
            if limit is not None and len(letters) >= limit:
                break
    if not ref.fifo:  # a FIFO queue's own order is the one that matters
        letters.sort(key=lambda d: (d.died_at or now, d.message_id))
    return Peeked(letters if limit is None else letters[:limit], unreached=scan.unreached)
