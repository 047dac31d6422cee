"""The topology as frozen pydantic models, in AWS's own vocabulary.

A ``Topology`` is what ``topology.yaml`` declares, with *logical* names (``orders``). Physical names
add the environment prefix (``--env dev`` -> ``dev-orders``): see ``physical_name``. Structure,
types and value ranges are checked here; cross-references and AWS naming rules are checked by
``bus.topology.check`` so that every problem is reported at once with its file position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from bus.topology import idempotency_model as idem
from bus.topology.alarm_model import Alarms
from bus.topology.claim_model import ClaimCheck
from bus.topology.feeds import DeadLetterFeed
from bus.topology.inbox_model import SqlInbox
from bus.topology.lambda_model import LambdaMapping

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
    """CloudEvents ``source`` and EventBridge ``Source``; defaults to ``cloudevents.source``,
    else the topology's name."""
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


class MiddlewareRef(_Model):
    """A middleware: ``use`` names an async middleware function, or a factory called with
    ``options`` as keywords. Written ``package.module:name`` alone when it has no options."""

    use: ImportPath
    options: JsonObject = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"use": value} if isinstance(value, str) else value


MiddlewareEntry = MiddlewareRef


class Middlewares(_Model):
    """The middlewares of every queue (``consume``) and of the publisher (``publish``), in order:
    the first is the outermost."""

    consume: list[MiddlewareEntry] = Field(default_factory=list)
    publish: list[MiddlewareEntry] = Field(default_factory=list)


class Idempotency(_Model):
    """Where handled event ids are kept: ``memory`` (this process), ``dynamodb`` (``table``,
    shared by every worker; ``bus.topology.idempotency_model``), ``sql`` (a table of the
    application's database, ``sql``; ``bus.topology.inbox_model``) or a factory of an
    ``IdempotencyStore`` (``package.module:name``, called with ``options`` as keywords)."""

    store: str = Field(default="memory", pattern=idem.STORE_PATTERN)
    options: JsonObject = Field(default_factory=dict)
    sql: SqlInbox | None = None
    """The inbox table of ``store: sql``."""
    expires: idem.Duration = Field(
        default=900.0, gt=0, le=43_200,
        validation_alias=AliasChoices("in_progress_expiry", "expires"),
    )  # fmt: skip
    """Seconds an in-progress claim holds before another copy may take it over (a worker that
    died while handling the event); ``in_progress_expiry`` (or ``expires``) in topology.yaml."""
    table: str | None = Field(
        default=None, pattern=idem.TABLE_PATTERN,
        min_length=idem.TABLE_LENGTH[0], max_length=idem.TABLE_LENGTH[1],
    )  # fmt: skip
    """The DynamoDB table (logical name; ``<env>-<table>`` in an environment) of store dynamodb."""
    ttl: idem.Duration = Field(default=idem.DEFAULT_TTL, ge=60, le=idem.MAX_TTL)
    """Seconds a completed event id is remembered (store dynamodb: the items' TTL)."""

    @model_validator(mode="after")
    def _store_fields(self) -> Idempotency:
        idem.check_store_fields(self)
        return self

    @model_validator(mode="after")
    def _sql_section(self) -> Idempotency:
        if self.sql is not None and self.store != "sql":
            raise ValueError(f"sql: is the inbox of store: sql, but store is {self.store!r}")
        return self


class HandlerBinding(_Model):
    """The handlers consuming one queue (the key of ``handlers``), keyed by event type."""

    events: dict[str, ImportPath] = Field(min_length=1)
    concurrency: int = Field(default=10, ge=1, le=1000)
    pollers: int = Field(default=1, ge=1, le=50)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    idempotent: bool = False
    """Skip event ids already handled successfully (the store of ``idempotency``)."""
    idempotency: Idempotency | None = None
    """This queue's idempotency store (default: the top-level one); implies ``idempotent``."""
    timeout: float | None = Field(default=None, gt=0, le=43_200)
    """Seconds each try of a handler may run; then it is cancelled and retried as an error."""
    middleware: list[MiddlewareEntry] = Field(default_factory=list)
    """Consume middlewares of this queue, inside the top-level ones."""

    @property
    def guarded(self) -> bool:
        return self.idempotent or self.idempotency is not None


class CloudEvents(_Model):
    """The CloudEvents attributes bus sets on every event of the topology (docs/envelope.md).

    ``source`` (default: the topology's ``name``; an event type's own ``source`` wins) may be any
    URI-reference, such as the absolute URI CloudEvents recommends (``urn:example:shop``,
    ``https://example.com/shop``). ``type_prefix`` goes before every event type's name in the
    CloudEvents ``type``, the EventBridge ``DetailType`` and the ``event_type`` attribute (for
    example ``com.example.shop.`` for reverse-DNS types); rules and filter policies then name the
    prefixed types. Defaults leave both as they were.
    """

    source: str | None = Field(default=None, min_length=1, max_length=256)
    type_prefix: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9._:/-]*$")


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
    middleware: Middlewares = Field(default_factory=Middlewares)
    idempotency: Idempotency = Field(default_factory=Idempotency)
    cloudevents: CloudEvents = Field(default_factory=CloudEvents)
    alarms: Alarms | None = None
    """CloudWatch alarms bus derives (``bus.topology.alarm_model``); none when absent."""
    lambda_: dict[str, LambdaMapping] = Field(default_factory=dict, alias="lambda")
    """Queues consumed by Lambda functions (``bus.topology.lambda_model``), by queue."""
    claim_check: ClaimCheck | None = None
    """The S3 bucket large events travel through (``bus.topology.claim_model``); none when absent."""

    # -- dead letters ---------------------------------------------------------------------------

    def dead_letter_sources(self) -> Mapping[str, tuple[str, ...]]:
        """DLQ name -> the queues whose redrive policy points at it (declared or derived)."""
        return self._dead_letters().sources

    def dead_letter_of(self, name: str) -> tuple[str, int] | None:
        """(DLQ name, max_receive_count) of queue ``name``, or ``None`` when it has no DLQ."""
        return self._dead_letters().of.get(name)

    def all_queues(self) -> dict[str, Queue]:
        """Declared queues plus the derived ``<name>-dlq`` queues, by logical name."""
        return dict(self._dead_letters().all_queues)

    def is_dead_letter_queue(self, name: str) -> bool:
        """Whether ``name`` is a queue's dead-letter queue (SQS redrive)."""
        return name in self._dead_letters().sources

    def dead_letter_queues(self) -> set[str]:
        """Queues that receive dead letters: of a queue (SQS redrive), of an SNS subscription
        (undeliverable messages) or of a rule's target (undeliverable events)."""
        return set(self.dead_letter_feeds())

    def dead_letter_feeds(self) -> dict[str, tuple[DeadLetterFeed, ...]]:
        """DLQ name -> what dead-letters into it, in topology order: DLQs of queues first (in
        queue order), then those of subscriptions, then those of rule targets."""
        feeds: dict[str, list[DeadLetterFeed]] = {
            dlq: [DeadLetterFeed("queue", source) for source in sources]
            for dlq, sources in self.dead_letter_sources().items()
        }
        for sub in self.subscriptions:
            if sub.dead_letter_queue:
                feed = DeadLetterFeed("subscription", sub.queue, topic=sub.topic)
                feeds.setdefault(sub.dead_letter_queue, []).append(feed)
        for name, rule in self.rules.items():
            for t in rule.targets:
                if t.dead_letter_queue:
                    transformed = t.input_path is not None or t.input_transformer is not None
                    feed = DeadLetterFeed("target", t.queue, rule=name, target_id=t.id,
                                          transformed=transformed)  # fmt: skip
                    feeds.setdefault(t.dead_letter_queue, []).append(feed)
        return {dlq: tuple(found) for dlq, found in feeds.items()}

    def _dead_letters(self) -> _DeadLetters:
        """Who dead-letters where, computed once per ``queues`` mapping: every lookup above is
        then O(1), so validating, planning and drawing stay linear in the number of queues.

        Kept beside the fields in ``__dict__``, as ``functools.cached_property`` does (pydantic
        neither compares nor dumps it); a ``model_copy`` with other ``queues`` recomputes it."""
        cached = self.__dict__.get("_dead_letters_cache")
        if not isinstance(cached, _DeadLetters) or cached.queues is not self.queues:
            cached = _DeadLetters.of_queues(self.queues)
            self.__dict__["_dead_letters_cache"] = cached
        return cached

    # -- lookups --------------------------------------------------------------------------------

    def subscriptions_of_queue(self, queue: str) -> list[Subscription]:
        return [s for s in self.subscriptions if s.queue == queue]

    def targets_of_queue(self, queue: str) -> list[tuple[str, Target]]:
        return [(rn, t) for rn, r in self.rules.items() for t in r.targets if t.queue == queue]


@dataclass(frozen=True)
class _DeadLetters:
    queues: Mapping[str, Queue]
    """The mapping this was computed from."""
    of: Mapping[str, tuple[str, int]]
    sources: Mapping[str, tuple[str, ...]]
    all_queues: Mapping[str, Queue]

    @classmethod
    def of_queues(cls, queues: Mapping[str, Queue]) -> _DeadLetters:
        declared = {
            q.dead_letter.queue
            for q in queues.values()
            if q.dead_letter is not False and q.dead_letter.queue is not None
        }
        of: dict[str, tuple[str, int]] = {}
        sources: dict[str, list[str]] = {}
        every = dict(queues)
        for name, queue in queues.items():
            if queue.dead_letter is False or name in declared:
                continue
            dlq = queue.dead_letter.queue or derived_dlq_name(name)
            of[name] = (dlq, queue.dead_letter.max_receive_count)
            sources.setdefault(dlq, []).append(name)
            if dlq not in every:
                every[dlq] = derived_dlq(queue)
        frozen = MappingProxyType({dlq: tuple(names) for dlq, names in sources.items()})
        return cls(queues, of, frozen, every)


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
