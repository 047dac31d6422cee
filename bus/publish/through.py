"""A sender whose every batch call goes through the publish middlewares (``batch``)."""

from __future__ import annotations

from collections.abc import Sequence

from bus.middleware.publish import OutgoingBatch, PublishMiddleware, chain_batches
from bus.publish.prepare import Prepared
from bus.publish.senders import EntryOutcome, Sender, failed_outcomes


class ThroughMiddleware:
    """A sender whose every batch call goes through the publish middlewares."""

    def __init__(self, sender: Sender, middleware: Sequence[PublishMiddleware]) -> None:
        self.channel = sender.channel
        self._sender = sender
        self._chain = chain_batches(middleware, self._send)

    async def _send(self, batch: OutgoingBatch) -> None:
        batch.outcomes = await self._sender.send(batch.entries)

    async def send(self, batch: Sequence[Prepared]) -> list[EntryOutcome]:
        """One call; a middleware's exception (or a batch left without an outcome per entry)
        fails every entry, as a failed call does."""
        outgoing = OutgoingBatch(self.channel, batch)
        try:
            await self._chain(outgoing)
        except Exception as exc:
            return failed_outcomes(batch, exc)
        if len(outgoing.outcomes) != len(batch):
            error = RuntimeError("a publish middleware left the batch without its outcomes")
            return failed_outcomes(batch, error)
        return outgoing.outcomes
