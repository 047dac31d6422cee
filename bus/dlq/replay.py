"""``replay``: send exported (and possibly edited) dead letters again, after validating every one.

Each line of the file is checked before anything is sent: it must be a JSON record whose envelope
(``envelope``, or else the one in ``body``) is a valid bus envelope, whose data validates against
its event type's schema (``Registry.parse``, upcasting older versions), and which has a destination
(``to``, else the queue named in its ``failure``, else its DLQ's only source; without ``to``, it
must be a queue of the topology). If any line fails,
``ReplayError`` lists every problem as ``FILE:LINE:1: ...`` and nothing is sent.

A replayed message is the envelope in raw form (the SQS body is the envelope), with its routing
attributes computed again from the (edited) data, plus the exported ``bus.failure`` so a second
death keeps its ``first_failed_at``. On a FIFO destination the group id comes from the event type's
``message_group_id`` field (else the exported group id); the deduplication id is derived from the
exported message id and the new body, so replaying the same file twice within SQS's 5-minute
deduplication window sends each message once.

A record the tools could not decode as an envelope (``envelope`` null, and a ``body`` that is not
one either: not JSON, too deep, not an envelope) is refused unless ``raw`` is set; with it, such a
record is sent as it was exported, byte for byte: the ``body`` text (lone surrogates included, as
the export escaped them) and every exported message attribute with its data type (``Binary`` and
custom types such as ``Binary.gz`` or ``Number.float``; base64 values decoded again). Raw records
are not validated (there is nothing to validate them against); their destination is chosen as
for any record.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus.aws import AwsClients
from bus.dlq.export import sqs_attribute
from bus.dlq.letter import FAILURE_ATTRIBUTE, unwrap
from bus.dlq.queues import QueueRef, Queues
from bus.dlq.send import Outgoing, deduplication_id, refusal, send_batch
from bus.dlq.traced import moving_span
from bus.envelope import EVENT_TYPE, EVENT_VERSION, encode_body, envelope_from_dict
from bus.envelope.attributes import routing_attributes
from bus.envelope.bounded import loads
from bus.errors import AwsError, BusError, EventValidationError, Problem, ReplayError
from bus.schema.registry import Registry
from bus.topology.model import Topology

MAX_ATTRIBUTES = 10


@dataclass(frozen=True)
class ReplayItem:
    """One validated line, ready to send."""

    line: int
    destination: QueueRef
    message: Outgoing
    event_type: str
    event_id: str
    raw: bool = False
    """Sent as exported (not an envelope: not validated)."""


@dataclass
class ReplayReport:
    path: str
    dry_run: bool = False
    sent: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    """Line -> why SQS refused it (after validation passed)."""
    destinations: Counter[str] = field(default_factory=Counter)
    raw: int = 0
    """Of those sent (or, in a dry run, to send): records sent as exported (``raw``)."""


class _Preparer:
    def __init__(
        self, queues: Queues, registry: Registry, to: QueueRef | None, *, raw: bool
    ) -> None:
        self.queues = queues
        self.registry = registry
        self.to = to
        self.raw = raw

    async def item(self, line: int, text: str) -> ReplayItem:
        """The item of one line; ``ValueError`` or a ``BusError`` says what is wrong."""
        record = loads(text)
        if not isinstance(record, dict):
            raise ValueError(f"a record must be a JSON object, not {type(record).__name__}")
        envelope = record.get("envelope")
        if envelope is None:
            envelope, _, error = unwrap(str(record.get("body", "")))
            if envelope is None:
                if self.raw:
                    return await self._raw(line, record)
                raise ValueError(
                    f"no envelope, and body is not one: {error} (--raw sends it as exported)"
                )
        env = envelope_from_dict(envelope)
        event = self.registry.parse(env.type, env.version, env.data)
        spec = self.registry.spec(env.type)
        attributes: dict[str, Any] = dict(routing_attributes(spec, env.type, env.version, event))
        failure = (record.get("message_attributes") or {}).get(FAILURE_ATTRIBUTE)
        if isinstance(failure, dict) and failure.get("StringValue"):
            keep = [EVENT_TYPE, EVENT_VERSION] + [
                n for n in attributes if n not in (EVENT_TYPE, EVENT_VERSION)
            ]
            attributes = {n: attributes[n] for n in keep[: MAX_ATTRIBUTES - 1]}
            attributes[FAILURE_ATTRIBUTE] = {
                "DataType": "String",
                "StringValue": failure["StringValue"],
            }
        destination = await self._destination(record)
        group = record.get("group_id")
        if spec.message_group_id is not None:
            group = str(getattr(event, spec.message_group_id))
        body = encode_body(env)
        message = Outgoing(
            key=str(line),
            body=body,
            attributes=attributes,
            group_id=str(group) if group else None,
            deduplication_id=deduplication_id("replay", str(record.get("message_id", "")), body),
        )
        problem = refusal(message, destination)
        if problem:
            raise ValueError(problem)
        return ReplayItem(line, destination, message, env.type, env.id)

    async def _raw(self, line: int, record: dict[str, Any]) -> ReplayItem:
        """The item of a record that is not an envelope: body and attributes as exported."""
        body = record.get("body")
        if not isinstance(body, str):
            raise ValueError("a record sent as exported needs its body as a string")
        exported = record.get("message_attributes") or {}
        if not isinstance(exported, dict):
            raise ValueError("message_attributes is not a JSON object")
        group = record.get("group_id")
        message = Outgoing(
            key=str(line),
            body=body,
            attributes={str(n): sqs_attribute(str(n), v) for n, v in exported.items()},
            group_id=str(group) if group else None,
            deduplication_id=deduplication_id("replay", str(record.get("message_id", "")), body),
        )
        destination = await self._destination(record)
        problem = refusal(message, destination)
        if problem:
            raise ValueError(problem)
        kind, event_id = record.get("event_type"), record.get("event_id")
        return ReplayItem(line, destination, message, str(kind or ""), str(event_id or ""), True)

    async def _destination(self, record: dict[str, Any]) -> QueueRef:
        if self.to is not None:
            return self.to
        failure = record.get("failure") or {}
        named = failure.get("queue") if isinstance(failure, dict) else None
        if named:
            queue = await self.queues.by_name(str(named))
            if queue is None:
                raise ValueError(f"its source queue {named} does not exist: use --to")
            return self._of_topology(queue)
        dlq = record.get("queue")
        if dlq:
            ref = await self.queues.by_name(str(dlq))
            sources = await self.queues.sources_of(ref) if ref is not None else ()
            if len(sources) == 1:
                return self._of_topology(sources[0])
        raise ValueError("no destination: the record names no source queue; use --to")

    def _of_topology(self, queue: QueueRef) -> QueueRef:
        """A destination the file names must be one of the topology's queues (``--to`` may name
        any): an edited or forged record cannot send events anywhere else."""
        if self.queues.topology is not None and queue.logical is None:
            where = f" in environment {self.queues.env!r}" if self.queues.env else ""
            raise ValueError(
                f"queue {queue.name} is not a queue of the topology{where}: replay sends only "
                f"to the topology's queues; use --to {queue.name} to send there"
            )
        return queue


def _describe(exc: Exception) -> str:
    if isinstance(exc, EventValidationError) and exc.fields:
        fields = ", ".join(f"data.{f}" if f != "(event)" else "data" for f in exc.fields)
        return f"{exc} [field: {fields}]"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc}"
    return str(exc)


async def prepare_replay(
    aws: AwsClients,
    path: Path,
    *,
    registry: Registry,
    topology: Topology | None = None,
    env: str | None = None,
    to: str | None = None,
    raw: bool = False,
) -> list[ReplayItem]:
    """Validate every line of ``path``; ``ReplayError`` lists every invalid line. With ``raw``,
    records that are not envelopes are taken as exported (see the module docstring)."""
    queues = Queues(aws, topology, env)
    destination = await queues.resolve(to) if to else None
    preparer = _Preparer(queues, registry, destination, raw=raw)
    items: list[ReplayItem] = []
    problems: list[Problem] = []
    data = await asyncio.to_thread(Path(path).read_bytes)
    lines = data.split(b"\n")  # not splitlines(): U+2028, U+0085 ... are text in JSON
    for number, raw_line in enumerate(lines, start=1):
        try:  # an editor's byte order mark before the first line is not the record's
            line = raw_line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start + 1} of the line"
            problems.append(Problem(str(path), number, 1, f"not UTF-8 text ({where})"))
            continue
        if not line.strip():
            continue
        try:
            items.append(await preparer.item(number, line))
        except AwsError:
            raise
        except (ValueError, BusError) as exc:
            problems.append(Problem(str(path), number, 1, _describe(exc)))
    if problems:
        raise ReplayError(problems)
    if not items:
        raise ReplayError([Problem(str(path), 1, 1, "no records to replay")])
    return items


async def replay(
    aws: AwsClients,
    path: Path,
    *,
    registry: Registry,
    topology: Topology | None = None,
    env: str | None = None,
    to: str | None = None,
    dry_run: bool = False,
    raw: bool = False,
) -> ReplayReport:
    """Validate every line, then send them all (in file order per destination queue). With
    ``raw``, records that are not envelopes are sent as exported, byte for byte."""
    items = await prepare_replay(
        aws, path, registry=registry, topology=topology, env=env, to=to, raw=raw
    )
    report = ReplayReport(path=str(path), dry_run=dry_run)
    by_destination: dict[str, tuple[QueueRef, list[ReplayItem]]] = {}
    for item in items:
        by_destination.setdefault(item.destination.arn, (item.destination, []))[1].append(item)
    for queue, group in by_destination.values():
        if dry_run:
            report.destinations[queue.name] += len(group)
            report.raw += sum(1 for i in group if i.raw)
            continue
        with moving_span("replay", queue.name) as links:
            outcome = await send_batch(aws, queue, [i.message for i in group])
            for item in group:
                if item.message.key in outcome.ok:
                    links.add(item.message.body, item.message.trace_header)
        report.sent += len(outcome.ok)
        report.destinations[queue.name] += len(outcome.ok)
        sent = set(outcome.ok)
        report.raw += sum(1 for i in group if i.raw and i.message.key in sent)
        report.failed.update({int(k): v for k, v in outcome.failed.items()})
        for key in outcome.held_back:
            report.failed[int(key)] = "not sent: an earlier message of its FIFO group failed"
    return report
