"""``replay``: send exported (and possibly edited) dead letters again, after validating every one.

Each line of the file (read one at a time: memory stays bounded whatever the file's size; the
validated messages wait in temporary files until they are sent) is checked before anything is
sent: it must be a JSON record whose envelope (``envelope``, or else the one in ``body``) is a
valid bus envelope, whose data validates against its event type's schema (``Registry.parse``,
upcasting older versions), and which has a destination (``to``, else the queue named in its
``failure``, else the one queue its DLQ serves, as a redrive chooses it:
``Queues.only_destination``; without ``to``, it must be a queue of the topology). If any line
fails, ``ReplayError`` lists the problems as ``FILE:LINE:1: ...`` (the first ``MAX_PROBLEMS``,
the rest counted) and nothing is sent.

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
import itertools
import json
import pickle
import tempfile
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bus.aws import AwsClients
from bus.dlq.export import sqs_attribute
from bus.dlq.letter import FAILURE_ATTRIBUTE, unwrap
from bus.dlq.queues import QueueRef, Queues
from bus.dlq.send import Outgoing, QueueSender, deduplication_id, refusal
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
        self._only: dict[str, QueueRef | str] = {}
        """A DLQ's name -> the one queue it serves, or why there is none (asked once per DLQ)."""

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
            only = self._only.get(str(dlq))
            if only is None:
                ref = await self.queues.by_name(str(dlq))
                only = self._only[str(dlq)] = (
                    await self.queues.only_destination(ref) if ref is not None else ""
                )
            if isinstance(only, QueueRef):
                return self._of_topology(only)
            if only:
                raise ValueError(f"no destination: the record names no source queue, and {only}")
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


MAX_LINE_BYTES = 16 * 2**20
"""The longest line replay reads (a record of a 1 MiB message, its text escaped as JSON writes it,
with its envelope and attributes, stays well under it); a longer one is a problem of its line,
skipped without being held."""
MAX_PROBLEMS = 100
"""Invalid lines listed by ``ReplayError``; the rest are counted (``ReplayError.more``)."""
PART = 100
"""Messages read back from the spool and handed to SQS at a time (a few calls' worth)."""


READ_BYTES = 2**20
"""Lines are read in a thread, about this many bytes of them at a time (or one longer line)."""


async def _lines(path: Path) -> AsyncGenerator[tuple[int, bytes | None], None]:
    """(number, bytes) of each line of ``path``, without its newline (``\\n`` only: U+2028,
    U+0085 ... are text in JSON); ``None`` for a line over ``MAX_LINE_BYTES``, whose rest is read
    past, not held. Read in a thread, about ``READ_BYTES`` at a time."""
    stream = await asyncio.to_thread(Path(path).open, "rb")
    try:
        number = 0
        while chunk := await asyncio.to_thread(_read_some, stream):
            for data in chunk:
                number += 1
                yield number, data
    finally:
        stream.close()


def _read_some(stream: IO[bytes]) -> list[bytes | None]:
    """The next lines of ``stream``, about ``READ_BYTES`` of them (at least one, if any is left)."""
    out: list[bytes | None] = []
    size = 0
    while size < READ_BYTES and (data := stream.readline(MAX_LINE_BYTES + 1)):
        size += len(data)
        if data.endswith(b"\n") or len(data) <= MAX_LINE_BYTES:
            out.append(data.removesuffix(b"\n"))
        else:  # no newline within the limit: a longer line, read past
            while data and not data.endswith(b"\n"):
                data = stream.readline(2**20)
            out.append(None)
    return out


class PreparedReplay:
    """The validated records of a replay file, kept on disk, not in memory: one temporary file
    per destination (pickled items, in file order), so a file of any size is validated whole
    before anything is sent, and sent a part at a time. Close it (``with``) to delete them."""

    def __init__(self) -> None:
        self._spools: dict[str, tuple[QueueRef, IO[bytes]]] = {}
        """Destination ARN -> the queue and its temporary file, in the order the file names them."""
        self.counts: Counter[str] = Counter()
        """Messages per destination queue name."""
        self.raw: Counter[str] = Counter()
        """Of those, records taken as exported (``raw``)."""

    def add(self, item: ReplayItem) -> None:
        queue = item.destination
        spooled = self._spools.get(queue.arn)
        if spooled is None:
            spool = tempfile.TemporaryFile(prefix="bus-replay-")  # noqa: SIM115 (closed in close)
            spooled = self._spools[queue.arn] = (queue, spool)
        pickle.dump(item, spooled[1], protocol=pickle.HIGHEST_PROTOCOL)
        self.counts[queue.name] += 1
        self.raw[queue.name] += item.raw

    def __len__(self) -> int:
        return sum(self.counts.values())

    @property
    def destinations(self) -> list[QueueRef]:
        """Every destination, in the order the file first names it."""
        return [queue for queue, _ in self._spools.values()]

    def items(self, queue: QueueRef) -> Iterator[ReplayItem]:
        """``queue``'s items, in file order, read back from its spool one at a time."""
        spool = self._spools[queue.arn][1]
        spool.seek(0)
        while True:
            try:
                yield pickle.load(spool)  # this process's own temporary file
            except EOFError:
                return

    def close(self) -> None:
        for _, spool in self._spools.values():
            spool.close()

    def __enter__(self) -> PreparedReplay:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


async def prepare_replay(
    aws: AwsClients,
    path: Path,
    *,
    registry: Registry,
    topology: Topology | None = None,
    env: str | None = None,
    to: str | None = None,
    raw: bool = False,
) -> PreparedReplay:
    """Validate every line of ``path`` (read a line at a time); ``ReplayError`` lists the invalid
    lines (the first ``MAX_PROBLEMS``, the rest counted). With ``raw``, records that are not
    envelopes are taken as exported (see the module docstring)."""
    queues = Queues(aws, topology, env)
    destination = await queues.resolve(to) if to else None
    preparer = _Preparer(queues, registry, destination, raw=raw)
    prepared = PreparedReplay()
    problems: list[Problem] = []
    invalid = 0
    try:
        async with aclosing(_lines(path)) as lines:
            async for number, data in lines:
                problem = await _add_line(preparer, prepared, number, data)
                if problem is not None:
                    invalid += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(Problem(str(path), number, 1, problem))
        if problems:
            raise ReplayError(problems, more=invalid - len(problems))
        if not len(prepared):
            raise ReplayError([Problem(str(path), 1, 1, "no records to replay")])
    except BaseException:
        prepared.close()
        raise
    return prepared


async def _add_line(
    preparer: _Preparer, prepared: PreparedReplay, number: int, data: bytes | None
) -> str | None:
    """Validate one line and spool its item; what is wrong with it, if anything."""
    if data is None:
        return f"a line of over {MAX_LINE_BYTES} bytes: not a record `bus dlq export` writes"
    try:  # an editor's byte order mark before the first line is not the record's
        line = data.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1} of the line)"
    if not line.strip():
        return None
    try:
        prepared.add(await preparer.item(number, line))
    except AwsError:
        raise
    except (ValueError, BusError) as exc:
        return _describe(exc)
    return None


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
    ``raw``, records that are not envelopes are sent as exported, byte for byte. Memory stays
    bounded whatever the file's size: lines are read one at a time and the validated messages
    wait in temporary files (``PreparedReplay``)."""
    report = ReplayReport(path=str(path), dry_run=dry_run)
    with await prepare_replay(
        aws, path, registry=registry, topology=topology, env=env, to=to, raw=raw
    ) as prepared:
        if dry_run:
            report.destinations.update(prepared.counts)
            report.raw = sum(prepared.raw.values())
            return report
        for queue in prepared.destinations:
            await _send(aws, queue, prepared.items(queue), report)
    return report


async def _send(
    aws: AwsClients, queue: QueueRef, items: Iterator[ReplayItem], report: ReplayReport
) -> None:
    """Send one destination's items, ``PART`` at a time, into ``report``."""
    sender = QueueSender(aws, queue)
    with moving_span("replay", queue.name) as links:
        while part := list(itertools.islice(items, PART)):
            outcome = await sender.send([i.message for i in part])
            sent = set(outcome.ok)
            for item in part:
                if item.message.key in sent:
                    links.add(item.message.body, item.message.trace_header)
                    report.raw += item.raw
            report.sent += len(sent)
            report.destinations[queue.name] += len(sent)
            report.failed.update({int(k): v for k, v in outcome.failed.items()})
            for key in outcome.held_back:
                report.failed[int(key)] = "not sent: an earlier message of its FIFO group failed"
