"""Finding the queues a DLQ command talks about: the topology's DLQs, their sources, and any queue
named by its logical name, its physical name or its URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bus.aws import AwsClients, aws_errors
from bus.aws.queues import is_missing_queue, is_url, name_of, queue_attributes, queue_url
from bus.errors import AwsError, SettingsError
from bus.topology.feeds import DeadLetterFeed, services_of
from bus.topology.model import FIFO_SUFFIX, Topology, physical_name

__all__ = ["DeadLetterQueue", "QueueRef", "Queues", "name_of", "queue_depth"]


@dataclass(frozen=True)
class QueueRef:
    """One existing SQS queue: its physical name, URL and ARN, and its topology name if any."""

    name: str
    url: str
    arn: str
    logical: str | None = None
    services: frozenset[str] | None = None
    """The services the topology says dead-letter into it (``SQS``, ``SNS``, ``EventBridge``);
    ``None`` when it does not say (not a DLQ it declares, or no topology)."""

    @property
    def fifo(self) -> bool:
        return self.name.endswith(FIFO_SUFFIX)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DeadLetterQueue:
    """A DLQ and what it serves: the queues whose redrive policy points at it (``sources``), and
    the SNS subscriptions and rule targets whose undeliverable messages it receives
    (``deliveries``, with physical names; their queues need not exist)."""

    queue: QueueRef
    sources: tuple[QueueRef, ...]
    deliveries: tuple[DeadLetterFeed, ...] = ()
    gone: tuple[str, ...] = ()
    """Source queues the topology declares that do not exist (physical names)."""

    def serves(self) -> list[str]:
        """What it serves, one line each: ``billing``, ``billing (gone)``, ``topic orders ->
        billing``, ..."""
        return (
            [s.name for s in self.sources]
            + [f"{name} (gone)" for name in self.gone]
            + [d.describe() for d in self.deliveries]
        )


class Queues:
    """Resolves and caches queue names for one topology and environment (either may be absent)."""

    def __init__(self, aws: AwsClients, topology: Topology | None = None, env: str | None = None):
        self.aws = aws
        self.topology = topology
        self.env = env
        self._cache: dict[str, QueueRef] = {}
        self._missing: set[str] = set()
        self._feeds_cache: Mapping[str, tuple[DeadLetterFeed, ...]] | None = None

    def physical(self, ref: str) -> tuple[str, str | None]:
        """(physical name, logical name) of a reference; names not in the topology are physical."""
        if self.topology is not None and ref in self.topology.all_queues():
            return physical_name(ref, self.env), ref
        name = name_of(ref)
        return name, self._logical_of(name)

    def _logical_of(self, physical: str) -> str | None:
        if self.topology is None:
            return None
        for logical in self.topology.all_queues():
            if physical_name(logical, self.env) == physical:
                return logical
        return None

    async def resolve(self, ref: str, *, physical: bool = False) -> QueueRef:
        """The queue ``ref`` names (logical name, physical name, URL or ARN); it must exist.
        With ``physical`` the name is never read as a topology name."""
        key = ("physical:" if physical else "") + ref
        if key in self._cache:
            return self._cache[key]
        if physical:
            name, logical = name_of(ref), self._logical_of(name_of(ref))
        else:
            name, logical = self.physical(ref)
        url = ref if is_url(ref) else await self._url(name, ref)
        attrs = await queue_attributes(self.aws.sqs, url, ["QueueArn"])
        services = services_of(self._feeds().get(logical, ())) if logical is not None else None
        queue = QueueRef(
            name=name,
            url=url,
            arn=attrs["QueueArn"],
            logical=logical,
            services=services,
        )
        self._cache[key] = queue
        return queue

    async def _url(self, name: str, ref: str) -> str:
        hint = f" (topology queue {ref!r})" if name != ref else ""
        where = f" in environment {self.env!r}" if self.env else ""
        return await queue_url(
            self.aws.sqs,
            name,
            described=f"{name}{hint}{where}",
            advice="apply the topology first, or name an existing queue or its URL",
        )

    def _feeds(self) -> Mapping[str, tuple[DeadLetterFeed, ...]]:
        if self.topology is None:
            return {}
        if self._feeds_cache is None:
            self._feeds_cache = self.topology.dead_letter_feeds()
        return self._feeds_cache

    def _physical_name(self, logical: str) -> str:
        return physical_name(logical, self.env)

    async def dead_letter_queues(self) -> list[DeadLetterQueue]:
        """Every DLQ the topology declares or derives (of queues, SNS subscriptions and rule
        targets), with what it serves, in topology order. Each DLQ must exist; a source queue
        that does not is named as gone (deliveries are listed whether their queues exist or not)."""
        out: list[DeadLetterQueue] = []
        for dlq, feeds in self._feeds().items():
            queue = await self.resolve(dlq)
            named = [self._physical_name(f.queue) for f in feeds if f.kind == "queue"]
            found = [await self.by_name(name) for name in named]
            sources = tuple(q for q in found if q is not None)
            gone = tuple(name for name, q in zip(named, found, strict=True) if q is None)
            deliveries = tuple(f.physical(self._physical_name) for f in feeds if f.kind != "queue")
            out.append(DeadLetterQueue(queue, sources, deliveries, gone))
        return out

    async def served_destination(self, dlq: QueueRef) -> QueueRef | None:
        """For a DLQ only SNS or EventBridge write to (their dead letters record no source
        queue): the one queue it serves, else ``SettingsError`` saying to use ``--to``. ``None``
        for any other queue."""
        if dlq.services is None or "SQS" in dlq.services:
            return None
        only = await self.only_destination(dlq)
        if isinstance(only, str):
            raise SettingsError(f"cannot redrive {dlq.name}: {only}")
        return only

    async def only_destination(self, dlq: QueueRef) -> QueueRef | str:
        """Where a dead letter of ``dlq`` goes back to when it names no queue itself: the one queue
        the DLQ serves (a source queue, the subscribed queue, the target's queue), or why there
        is none (the reason ends with ``use --to``)."""
        deliveries = [f for f in self._feeds().get(dlq.logical or "", ()) if f.kind != "queue"]
        if not deliveries:
            sources = await self.sources_of(dlq)
            if len(sources) == 1:
                return sources[0]
            return "no source recorded and the DLQ does not serve exactly one queue: use --to"
        feeds = self._feeds()[dlq.logical or ""]
        served = sorted({self._physical_name(f.queue) for f in feeds})
        if len(served) != 1:
            return f"the DLQ serves several queues ({', '.join(served)}): use --to"
        transformed = [f for f in deliveries if f.transformed]
        if transformed:
            return (
                f"{transformed[0].physical(self._physical_name).describe()} transforms its input "
                "(input_path or input_transformer) and the DLQ holds the event, not what the "
                "target gets: use --to"
            )
        queue = await self.by_name(served[0])
        return queue if queue is not None else f"its queue {served[0]} does not exist: use --to"

    async def receives_dead_letters(self, queue: QueueRef) -> bool:
        """Whether ``queue`` is a dead-letter queue: the topology declares it as one (of a queue,
        an SNS subscription or a rule's target), or SQS reports a queue whose redrive policy
        points at it."""
        if self.topology is not None and queue.logical in self.topology.dead_letter_queues():
            return True
        with aws_errors("ListDeadLetterSourceQueues"):
            page = await self.aws.sqs.list_dead_letter_source_queues(
                QueueUrl=queue.url, MaxResults=1
            )
        return bool(page.get("queueUrls"))

    async def sources_of(self, dlq: QueueRef) -> tuple[QueueRef, ...]:
        """The queues whose redrive policy points at ``dlq``: from the topology when it declares
        them, otherwise as SQS reports them (ListDeadLetterSourceQueues)."""
        if self.topology is not None and dlq.logical is not None:
            declared: Sequence[str] = self.topology.dead_letter_sources().get(dlq.logical, [])
            if declared:
                return tuple([await self.resolve(s) for s in declared])
        urls: list[str] = []
        kwargs: dict[str, str] = {}
        while True:
            with aws_errors("ListDeadLetterSourceQueues"):
                page = await self.aws.sqs.list_dead_letter_source_queues(
                    QueueUrl=dlq.url, MaxResults=1000, **kwargs
                )
            urls.extend(page.get("queueUrls", []))
            token = page.get("NextToken")
            if not token:
                break
            kwargs = {"NextToken": token}
        return tuple([await self.resolve(url, physical=True) for url in sorted(urls)])

    async def by_name(self, name: str) -> QueueRef | None:
        """The queue with this physical name or ARN, or ``None`` when it does not exist."""
        if name in self._missing:
            return None
        try:
            return await self.resolve(name_of(name), physical=True)
        except AwsError as exc:
            if is_missing_queue(exc):
                self._missing.add(name)
                return None
            raise


async def queue_depth(aws: AwsClients, queue: QueueRef) -> tuple[int, int]:
    """(visible, in flight) messages, as SQS approximates them."""
    attrs = await queue_attributes(
        aws.sqs,
        queue.url,
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    return (
        int(attrs.get("ApproximateNumberOfMessages", 0)),
        int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )
