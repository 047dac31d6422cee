"""Running the entry point locally: what an SQS event source mapping does, done from here.

``invoke_locally`` polls the queue (long polling, every system and message attribute), delivers
each batch to the entry point as the SQS event the mapping would build (``records.event_of``:
records, attributes, ``eventSourceARN``, ``awsRegion``), with a context whose remaining time is
the function's ``timeout``, then honours the partial batch response as the mapping does: deletes
the records not reported failed and leaves the others on the queue (their visibility is whatever
the entry point set: the backoff, or the queue's visibility timeout). ``bus lambda invoke`` runs
it; it needs no deployment and no Lambda service.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.aws import AwsClients
from bus.aws.queues import queue_url
from bus.aws.sqs import ALL, QueueOps, chunks
from bus.aws_lambda.consumer import LambdaContext
from bus.aws_lambda.records import event_of, queue_arn
from bus.topology.model import physical_name

EntryPoint = Callable[[Mapping[str, Any], LambdaContext | None], Awaitable[dict[str, Any]]]
"""An async entry point (``LambdaHandler.handle``)."""


class LocalContext:
    """A Lambda context for one local invocation: the time left of the function's ``timeout``."""

    def __init__(self, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class LocalOptions:
    """How ``invoke_locally`` polls, as an event source mapping's settings would say."""

    batch_size: int = 10
    """Records per event, at most 10 (one ReceiveMessage)."""
    wait_seconds: int = 5
    timeout: float = 30.0
    """The function's timeout, in seconds: the context's remaining time at each invocation."""
    until_empty: bool = False
    """Stop when a receive comes back empty."""
    max_batches: int | None = None


@dataclass
class LocalReport:
    """What happened over all the invocations."""

    batches: int = 0
    records: int = 0
    failed: int = 0
    deleted: int = 0
    failed_ids: list[str] = field(default_factory=list)


async def invoke_locally(
    aws: AwsClients,
    entry: EntryPoint,
    queue: str,
    env: str | None,
    options: LocalOptions | None = None,
    *,
    on_batch: Callable[[int, int], None] | None = None,
) -> LocalReport:
    """Poll ``queue`` (logical name) and invoke ``entry`` with each batch until ``options`` say
    stop (or the caller cancels). ``on_batch(records, failed)`` hears of each invocation."""
    options = options or LocalOptions()
    physical = physical_name(queue, env)
    ops = QueueOps(aws.sqs, await queue_url(aws.sqs, physical))
    account = await aws.account()
    arn = queue_arn(account.region, account.account_id, physical, account.partition)
    report = LocalReport()
    while options.max_batches is None or report.batches < options.max_batches:
        messages = await ops.receive(
            min(10, options.batch_size), options.wait_seconds, system_attributes=ALL
        )
        if not messages:
            if options.until_empty:
                break
            continue
        event = event_of(messages, arn, account.region)
        response = await entry(event, LocalContext(options.timeout))
        failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])}
        done = [str(m["ReceiptHandle"]) for m in messages if m["MessageId"] not in failed]
        for batch in chunks(done):
            refused = await ops.delete_batch(batch)
            report.deleted += len(batch) - len(refused)
        report.batches += 1
        report.records += len(messages)
        report.failed += len(failed)
        report.failed_ids.extend(sorted(failed))
        if on_batch is not None:
            on_batch(len(messages), len(failed))
    return report
