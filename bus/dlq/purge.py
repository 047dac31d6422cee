"""``purge``: delete every message of a DLQ (PurgeQueue) or only a selection (receive, delete the
selected, let the rest go when the scan ends). Asking the operator first is the command line's job.
A selective purge cannot reach messages in flight elsewhere, and on a FIFO DLQ the messages a
selection keeps block their group: what it did not reach is ``PurgeReport.unreached``.

A queue that is not a dead-letter queue (``Queues.receives_dead_letters``) is refused unless
``any_queue`` says so: a live queue named by mistake (``billing`` for ``billing-dlq``) is not
emptied."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bus.aws import AwsClients, aws_errors
from bus.dlq.queues import QueueRef, Queues, queue_depth
from bus.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS, Scan
from bus.dlq.select import Selection
from bus.errors import ConfigError
from bus.topology.model import Topology


@dataclass
class PurgeReport:
    queue: str
    everything: bool
    deleted: int = 0
    """Messages deleted (for a whole-queue purge: SQS's approximate count just before)."""
    scanned: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """Selected, but the delete failed: still in the DLQ (message id -> reason)."""
    unreached: int = 0
    """A selection: about how many messages the scan never received (``bus.dlq.scan``)."""

    @property
    def complete(self) -> bool:
        return not (self.failed or self.unreached)


async def purge(
    aws: AwsClients,
    queue: str,
    *,
    topology: Topology | None = None,
    env: str | None = None,
    selection: Selection | None = None,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    any_queue: bool = False,
) -> PurgeReport:
    """Delete the selected messages of ``queue``; with no selection, all of them (PurgeQueue:
    SQS allows one per queue every 60 seconds and may take up to 60 seconds to finish).
    ``ConfigError`` when ``queue`` is not a dead-letter queue, unless ``any_queue``."""
    queues = Queues(aws, topology, env)
    ref = await queues.resolve(queue)
    if not any_queue:
        await ensure_dead_letter_queue(queues, ref)
    chosen = selection or Selection()
    if chosen.everything:
        visible, in_flight = await queue_depth(aws, ref)
        with aws_errors("PurgeQueue"):
            await aws.sqs.purge_queue(QueueUrl=ref.url)
        return PurgeReport(queue=ref.name, everything=True, deleted=visible + in_flight)
    report = PurgeReport(queue=ref.name, everything=False)
    now = datetime.now(UTC)
    async with Scan(aws, ref, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        async for batch in scan:
            report.scanned += len(batch)
            doomed = [letter for letter in batch if chosen.matches(letter, now)]
            if doomed:
                outcome = await scan.delete(doomed)
                report.deleted += len(outcome.ok)
                report.failed.update(outcome.failed)
        report.unreached = scan.unreached
    return report


async def ensure_dead_letter_queue(queues: Queues, queue: QueueRef) -> None:
    """``ConfigError`` unless ``queue`` is a dead-letter queue (see the module docstring)."""
    if await queues.receives_dead_letters(queue):
        return
    if queues.topology is not None:
        why = "the topology declares it as no queue's, SNS subscription's or rule target's DLQ"
    else:  # what only the topology knows
        why = "no topology loaded, which alone knows an SNS subscription's or a rule target's DLQ"
    raise ConfigError(
        f"{queue.name} is not a dead-letter queue ({why}, and SQS reports no queue whose redrive "
        "policy points at it): purging it would delete live messages; --any-queue "
        "(any_queue=True) purges it anyway"
    )
