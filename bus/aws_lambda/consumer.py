"""One SQS event through the worker's own pipeline; the partial batch response back.

::

    records ─ received_of ─► Processor.process (decode, validate, upcast, middlewares, handler,
                                                retry policy, Retry/Reject, idempotency)
                          ─► Settler: handled ─────────────► success (the mapping deletes it)
                                      dead-letter ─────────► DLQ copy with bus.failure, success
                                      redeliver ───────────► ChangeMessageVisibility(backoff),
                                                              in batchItemFailures
    FIFO: a record that is reported failed holds back the rest of its message group: they are
          not started, come back no earlier than it (their visibility set to its backoff, after
          its own), and are reported failed (order kept).
    Lambda's remaining time under ``reserve``: no record is started any more; the rest are made
          visible again at once and reported failed.

A record is a success only when the pipeline settled it as deleted (handled, a duplicate, or safely
in the DLQ); anything else, an unexpected error included, is reported failed, so the mapping
leaves it on the queue: nothing is lost. The queue's real attributes (visibility timeout, redrive
policy and DLQ) are read once, when the consumer opens, as the worker reads them at start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from bus.aws_lambda.records import queue_of_arn, received_of, sqs_records
from bus.errors import BusError, ConfigError
from bus.topology.lambda_model import DEFAULT_RESERVE
from bus.worker.acker import Acker
from bus.worker.fields import delivery_fields
from bus.worker.handling import Processor
from bus.worker.heartbeat import Heartbeat
from bus.worker.message import Received
from bus.worker.queues import resolve_queue
from bus.worker.runtime import Worker
from bus.worker.scope import Log, QueueScope
from bus.worker.settle import Settler
from bus.worker.sqs import QueueOps, call_failure, chunks

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


class LambdaContext(Protocol):
    """What the entry point reads of Lambda's context object."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class LambdaOptions:
    """How the entry point runs a batch."""

    reserve: float = DEFAULT_RESERVE
    """Seconds of remaining time kept for settling and returning (see ``DEFAULT_RESERVE``)."""


class _Verdicts(Acker):
    """The Settler's deletes, noted instead of sent: the event source mapping deletes every
    record the response does not report failed."""

    def __init__(self, ops: QueueOps, log: Log) -> None:
        super().__init__(ops, log)
        self.done: set[str] = set()

    def delete(self, receipt: str, log: Log | None = None) -> None:
        self.done.add(receipt)


class _Ops(QueueOps):
    """The queue's calls, noting the visibility the Settler gives each record it redelivers."""

    def __init__(self, sqs: SQSClient, url: str) -> None:
        super().__init__(sqs, url)
        self.visibility: dict[str, int] = {}

    async def change_visibility(self, receipt: str, seconds: int) -> None:
        await super().change_visibility(receipt, seconds)
        self.visibility[receipt] = seconds


class LambdaConsumer:
    """Runs SQS events of one queue through the worker's pipeline (see the module's docstring)."""

    def __init__(
        self,
        scope: QueueScope,
        processor: Processor,
        settler: Settler,
        verdicts: _Verdicts,
        ops: _Ops,
        options: LambdaOptions | None = None,
    ) -> None:
        self.scope = scope
        self._ops = ops
        self.options = options or LambdaOptions()
        self._processor = processor
        self._settler = settler
        self._verdicts = verdicts
        self._reserve_ms = (self.options.reserve + (scope.binding.timeout or 0.0)) * 1000

    @classmethod
    async def open(
        cls, worker: Worker, queue: str, options: LambdaOptions | None = None
    ) -> LambdaConsumer:
        """A consumer of ``queue`` (logical name) with ``worker``'s handlers, middlewares,
        idempotency stores, registry and publisher (the worker is never started)."""
        binding = next((b for b in worker.bindings if b.queue == queue), None)
        if binding is None:
            raise ConfigError(f"the worker has no handlers for queue {queue!r}")
        aws = worker.aws
        info = await resolve_queue(aws, queue, worker.env)
        log: Log = structlog.get_logger("bus.lambda").bind(queue=info.name)
        scope = QueueScope(info, binding, worker.stats.queue(queue), log)
        ops = _Ops(aws.sqs, info.url)
        dlq_ops = QueueOps(aws.sqs, info.dlq_url) if info.dlq_url else None
        verdicts = _Verdicts(ops, log)
        heartbeat = Heartbeat(ops, 0, log)  # Lambda holds a record no longer than it runs
        settler = Settler(scope, ops, dlq_ops, verdicts, heartbeat, hold_fifo=False)
        processor = Processor(
            scope,
            settler,
            worker.registry,
            worker.publisher,
            worker.consume_stack(scope),
            worker.claims,
        )
        return cls(scope, processor, settler, verdicts, ops, options)

    async def handle(
        self, event: Mapping[str, Any], context: LambdaContext | None
    ) -> dict[str, Any]:
        """The partial batch response for ``event``: ``{"batchItemFailures": [...]}``."""
        records = sqs_records(event)
        messages: list[Received] = []
        failed: list[str] = []
        blocked: set[str | None] = set()
        for record in records:
            self._check_source(record)
            try:
                messages.append(received_of(record))
            except BusError as exc:
                self.scope.log.error("unreadable record; reported failed", error=str(exc))
                failed.append(str(record.get("messageId", "")))
                blocked.add((record.get("attributes") or {}).get("MessageGroupId"))
        self._verdicts.done.clear()
        self._ops.visibility.clear()
        unstarted: list[Received] = []
        limit = asyncio.Semaphore(self.scope.binding.concurrency)
        runnable = messages
        if self.scope.info.fifo and blocked:  # the rest of its group waits behind it
            runnable = [m for m in messages if m.group_id not in blocked]
        await asyncio.gather(
            *(self._lane(lane, context, limit, unstarted) for lane in self._lanes(runnable))
        )
        if unstarted:
            await self._settler.release(unstarted)
        done = self._verdicts.done
        failed += [m.message_id for m in messages if m.receipt_handle not in done]
        order = {str(r.get("messageId", "")): n for n, r in enumerate(records)}
        failed.sort(key=lambda mid: order.get(mid, 0))
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failed]}

    def _check_source(self, record: Mapping[str, Any]) -> None:
        arn = record["eventSourceARN"]
        if queue_of_arn(arn) != self.scope.info.physical:
            raise ConfigError(
                f"a record from {arn} reached the entry point of queue {self.scope.info.physical}"
                " (check the event source mapping and BUS_ENV)"
            )

    def _lanes(self, messages: Sequence[Received]) -> list[list[Received]]:
        """Standard queue: one lane per record; FIFO: one per message group, in order."""
        if not self.scope.info.fifo:
            return [[m] for m in messages]
        lanes: dict[str | None, list[Received]] = {}
        for msg in messages:
            lanes.setdefault(msg.group_id, []).append(msg)
        return list(lanes.values())

    def _time_short(self, context: LambdaContext | None) -> bool:
        if context is None:
            return False
        return context.get_remaining_time_in_millis() < self._reserve_ms

    async def _lane(
        self,
        lane: Sequence[Received],
        context: LambdaContext | None,
        limit: asyncio.Semaphore,
        unstarted: list[Received],
    ) -> None:
        for n, msg in enumerate(lane):
            async with limit:
                if self._time_short(context):
                    self.scope.log.warning(
                        "Lambda's remaining time is short; returning the records not started",
                        count=len(lane) - n,
                        **delivery_fields(msg),
                    )
                    unstarted.extend(lane[n:])
                    return
                await self._one(msg)
            if msg.receipt_handle not in self._verdicts.done and n + 1 < len(lane):
                await self._hold_back(msg, lane[n + 1 :])
                return

    async def _hold_back(self, failed: Received, rest: Sequence[Received]) -> None:
        """FIFO: the records behind ``failed`` in its group come back after it, not before: as
        late as it (visibility set after its own), or, if its visibility was not set, when their
        visibility timeout ends, as its does."""
        seconds = self._ops.visibility.get(failed.receipt_handle)
        self.scope.log.info(
            "holding the rest of the message group back", count=len(rest), delay=seconds
        )
        if seconds is None:
            return
        for batch in chunks([m.receipt_handle for m in rest]):
            try:
                await self._ops.change_visibility_batch(batch, seconds)
            except Exception as exc:
                self.scope.log.warning(
                    "could not hold the group back; it comes back after its visibility timeout",
                    code=call_failure(exc),
                )

    async def _one(self, msg: Received) -> None:
        try:
            await self._processor.process(msg)
        except Exception:
            self.scope.log.exception(
                "unexpected error; the record is reported failed", **delivery_fields(msg)
            )
