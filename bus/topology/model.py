"""The topology as frozen pydantic models, in AWS's own vocabulary.

A ``Topology`` is what ``topology.yaml`` declares, with *logical* names (``orders``). Physical names
add the environment prefix (``--env dev`` -> ``dev-orders``): see ``physical_name``. Structure,
types and value ranges are checked here; cross-references and AWS naming rules are checked by
``bus.topology.check`` so that every problem is reported at once with its file position.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bus.topology.alarm_model import Alarms

FIFO_SUFFIX = ".fifo"
DLQ_SUFFIX = "-dlq"
DEFAULT_MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum: time to notice and redrive
DEFAULT_BUS = "default"

Tags = dict[str, str]
JsonObject = dict[str, Any]
ImportPath = Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")]
"""``package.module:attribute``, resolved relative to the topology file's directory."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# -- SNS ------------------------------------------------------------------------------------------


class Topic(_Model):
    """An SNS topic. FIFO topics need a name ending in ``.fifo`` and feed FIFO queues only."""

    fifo: bool = False
    content_based_deduplication: bool = False
    kms_master_key_id: str | None = None
    """Server-side encryption with this KMS key (e.g. ``alias/aws/sns``); none when unset."""
    display_name: str | None = Field(default=None, max_length=100)
    tags: Tags = Field(default_factory=dict)


class Subscription(_Model):
    """An SNS -> SQS subscription. One per (topic, queue) pair."""

    topic: str
    queue: str
    raw_message_delivery: bool = False
    filter_policy: JsonObject | None = None
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"
    dead_letter_queue: str | None = None
    """SNS's own redrive policy: where SNS puts messages it cannot deliver to the queue."""


# -- SQS ------------------------------------------------------------------------------------------


class DeadLetter(_Model):
    """Where a queue's messages go after ``max_receive_count`` receives.

    ``queue`` names a declared queue; when omitted bus derives ``<name>-dlq`` (``<name>-dlq.fifo``
    for FIFO queues) with 14 days' retention and the source queue's encryption.
    """

    queue: str | None = None
    max_receive_count: int = Field(default=DEFAULT_MAX_RECEIVE_COUNT, ge=1, le=1000)


class Queue(_Model):
    """An SQS queue. Encrypted at rest (SSE-SQS) unless told otherwise."""

    fifo: bool = False
    content_based_deduplication: bool = False
    deduplication_scope: Literal["messageGroup", "queue"] | None = None
    fifo_throughput_limit: Literal["perQueue", "perMessageGroupId"] | None = None
    visibility_timeout: int = Field(default=30, ge=0, le=43_200)
    message_retention_period: int = Field(default=345_600, ge=60, le=1_209_600)
    receive_message_wait_time: int = Field(default=20, ge=0, le=20)
    delay_seconds: int = Field(default=0, ge=0, le=900)
    maximum_message_size: int = Field(default=262_144, ge=1_024, le=1_048_576)
    encryption: Literal["sqs", "kms", "none"] = "sqs"
    kms_master_key_id: str | None = None
    kms_data_key_reuse_period: int = Field(default=300, ge=60, le=86_400)
    dead_letter: DeadLetter | Literal[False] = Field(default_factory=DeadLetter)
    """``false`` for no DLQ. Queues used as another queue's DLQ never get one of their own."""
    tags: Tags = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kms_needs_key(self) -> Queue:
        if self.encryption == "kms" and not self.kms_master_key_id:
            raise ValueError("encryption: kms needs kms_master_key_id")
        if self.kms_master_key_id and self.encryption != "kms":
            raise ValueError("kms_master_key_id is only used with encryption: kms")
        return self


# -- EventBridge ----------------------------------------------------------------------------------


class EventBus(_Model):
    """A custom EventBridge bus. The ``default`` bus exists already and is never declared."""

    description: str | None = Field(default=None, max_length=512)
    tags: Tags = Field(default_factory=dict)


class InputTransformer(_Model):
    input_paths_map: dict[str, str] = Field(default_factory=dict, max_length=100)
    input_template: str = Field(min_length=1, max_length=8192)


class TargetRetryPolicy(_Model):
    maximum_retry_attempts: int = Field(default=185, ge=0, le=185)
    maximum_event_age_in_seconds: int = Field(default=86_400, ge=60, le=86_400)


class Target(_Model):
    """An SQS target of a rule; ``id`` defaults to the queue's name."""

    queue: str
    id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[\.\-_A-Za-z0-9]+$"
    )
    input_path: str | None = None
    input_transformer: InputTransformer | None = None
    dead_letter_queue: str | None = None
    """EventBridge's own DLQ for events it could not deliver to the target."""
    retry_policy: TargetRetryPolicy | None = None
    message_group_id: str | None = None
    """Required when the target queue is FIFO."""

    @model_validator(mode="after")
    def _one_input(self) -> Target:
        if self.input_path is not None and self.input_transformer is not None:
            raise ValueError("input_path and input_transformer are mutually exclusive")
        return self

    @property
    def target_id(self) -> str:
        return self.id or self.queue.replace(FIFO_SUFFIX, "")


class Rule(_Model):
    """An EventBridge rule on ``bus`` (a declared bus, or ``default``) with SQS targets."""

    bus: str = DEFAULT_BUS
    description: str | None = Field(default=None, max_length=512)
    event_pattern: JsonObject
    state: Literal["ENABLED", "DISABLED"] = "ENABLED"
    targets: list[Target] = Field(min_length=1, max_length=5)
    tags: Tags = Field(default_factory=dict)


# -- events and handlers (filled by the publishing and worker features) --------------------------


class Destination(_Model):
    """Exactly one of ``topic``, ``bus`` or ``queue``."""

    topic: str | None = None
    bus: str | None = None
    queue: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Destination:
        given = [k for k in ("topic", "bus", "queue") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a destination names exactly one of: topic, bus, queue")
        return self


class PreviousVersion(_Model):
    """An older version still accepted on consume, upcast to the next version by ``upcast``."""

    model: ImportPath
    upcast: ImportPath


class EventType(_Model):
    """An event type: its pydantic model, version, destinations and routing attributes."""

    model: ImportPath
    version: int = Field(default=1, ge=1)
    previous_versions: dict[int, PreviousVersion] = Field(default_factory=dict)
    publish_to: list[Destination] = Field(default_factory=list)
    source: str | None = Field(default=None, min_length=1, max_length=256)
    """EventBridge ``Source``; defaults to the topology's name."""
    attributes: list[str] = Field(default_factory=list, max_length=8)
    """Model fields exposed as message attributes (for filter policies). At most 8: SQS carries
    10 attributes and bus uses 2 (event type and version)."""
    message_group_id: str | None = None
    """Model field whose value is the FIFO message group id."""


class Backoff(_Model):
    """Exponential backoff in seconds: ``initial * multiplier ** (attempt - 1)``, capped, jittered."""

    initial: float = Field(default=1.0, ge=0, le=43_200)
    multiplier: float = Field(default=2.0, ge=1, le=10)
    maximum: float = Field(default=300.0, ge=0, le=43_200)
    jitter: bool = True


class RetryPolicy(_Model):
    """In-process retries for transient errors, then redelivery with backoff, then the DLQ."""

    attempts: int = Field(default=3, ge=1, le=20)
    """In-process attempts per delivery, for exceptions listed in ``transient``."""
    transient: list[ImportPath] = Field(
        default_factory=lambda: ["builtins:TimeoutError", "builtins:ConnectionError"]
    )
    in_process: Backoff = Field(default_factory=lambda: Backoff(initial=0.1, maximum=2.0))
    redelivery: Backoff = Field(default_factory=Backoff)


class HandlerBinding(_Model):
    """The handlers consuming one queue (the key of ``handlers``), keyed by event type."""

    events: dict[str, ImportPath] = Field(min_length=1)
    concurrency: int = Field(default=10, ge=1, le=1000)
    pollers: int = Field(default=1, ge=1, le=50)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    idempotent: bool = False
    """Skip event ids already handled successfully (in-memory store unless one is given)."""


# -- the whole document ---------------------------------------------------------------------------


class Topology(_Model):
    """Everything ``topology.yaml`` declares."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    """Names this topology in ownership tags (``bus:topology``) and as default event source."""
    description: str | None = None
    topics: dict[str, Topic] = Field(default_factory=dict)
    queues: dict[str, Queue] = Field(default_factory=dict)
    subscriptions: list[Subscription] = Field(default_factory=list)
    buses: dict[str, EventBus] = Field(default_factory=dict)
    rules: dict[str, Rule] = Field(default_factory=dict)
    events: dict[str, EventType] = Field(default_factory=dict)
    handlers: dict[str, HandlerBinding] = Field(default_factory=dict)
    alarms: Alarms | None = None
    """CloudWatch alarms bus derives (``bus.topology.alarm_model``); none when absent."""

    # -- dead letters ---------------------------------------------------------------------------

    def dead_letter_sources(self) -> dict[str, list[str]]:
        """DLQ name -> the queues whose redrive policy points at it (declared or derived)."""
        out: dict[str, list[str]] = {}
        for name in self.queues:
            dlq = self.dead_letter_of(name)
            if dlq is not None:
                out.setdefault(dlq[0], []).append(name)
        return out

    def _declared_dlq_names(self) -> set[str]:
        return {
            q.dead_letter.queue
            for q in self.queues.values()
            if q.dead_letter is not False and q.dead_letter.queue is not None
        }

    def dead_letter_of(self, name: str) -> tuple[str, int] | None:
        """(DLQ name, max_receive_count) of queue ``name``, or ``None`` when it has no DLQ."""
        queue = self.queues.get(name)
        if queue is None or queue.dead_letter is False or name in self._declared_dlq_names():
            return None
        if queue.dead_letter.queue is not None:
            return queue.dead_letter.queue, queue.dead_letter.max_receive_count
        return derived_dlq_name(name), queue.dead_letter.max_receive_count

    def all_queues(self) -> dict[str, Queue]:
        """Declared queues plus the derived ``<name>-dlq`` queues, by logical name."""
        out = dict(self.queues)
        for name, queue in self.queues.items():
            dlq = self.dead_letter_of(name)
            if dlq is not None and dlq[0] not in out:
                out[dlq[0]] = derived_dlq(queue)
        return out

    def is_dead_letter_queue(self, name: str) -> bool:
        return name in self.dead_letter_sources()

    # -- lookups --------------------------------------------------------------------------------

    def subscriptions_of_queue(self, queue: str) -> list[Subscription]:
        return [s for s in self.subscriptions if s.queue == queue]

    def targets_of_queue(self, queue: str) -> list[tuple[str, Target]]:
        return [(rn, t) for rn, r in self.rules.items() for t in r.targets if t.queue == queue]


def derived_dlq_name(queue_name: str) -> str:
    if queue_name.endswith(FIFO_SUFFIX):
        return queue_name[: -len(FIFO_SUFFIX)] + DLQ_SUFFIX + FIFO_SUFFIX
    return queue_name + DLQ_SUFFIX


def derived_dlq(source: Queue) -> Queue:
    """The queue bus creates as ``<name>-dlq``: same FIFO-ness and encryption, 14 days' retention."""
    return Queue(
        fifo=source.fifo,
        visibility_timeout=source.visibility_timeout,
        message_retention_period=DLQ_RETENTION_SECONDS,
        maximum_message_size=source.maximum_message_size,
        encryption=source.encryption,
        kms_master_key_id=source.kms_master_key_id,
        kms_data_key_reuse_period=source.kms_data_key_reuse_period,
        dead_letter=False,
        tags=dict(source.tags),
    )


def physical_name(logical: str, env: str | None) -> str:
    """The AWS name of a resource: ``<env>-<name>`` when an environment is given."""
    return f"{env}-{logical}" if env else logical


def ownership_tags(topology: Topology, env: str | None) -> Mapping[str, str]:
    """Tags bus puts on every resource it creates; ``--prune`` deletes only resources with them."""
    return {"bus:topology": topology.name, "bus:env": env or "-", "bus:managed": "true"}
