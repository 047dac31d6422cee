"""``purge``: delete every message of a DLQ (PurgeQueue) or only a selection (receive, delete the
selected, let the rest go when the scan ends). Asking the operator first is the command line's job.
A selective purge cannot reach messages in flight elsewhere, and on a FIFO DLQ the messages a
selection keeps block their group: what it did not reach is ``PurgeReport.unreached``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bus.aws import AwsClients, aws_errors
from bus.dlq.queues import Queues, queue_depth
from bus.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS, Scan
from bus.dlq.select import Selection
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
) -> PurgeReport:
    """Delete the selected messages of ``queue``; with no selection, all of them (PurgeQueue:
    SQS allows one per queue every 60 seconds and may take up to 60 seconds to finish)."""
    ref = await Queues(aws, topology, env).resolve(queue)
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
