"""``export``: dead letters to a JSON Lines file, without deleting them. One record per line::

    {"format": "bus.dlq/1", "queue": "dev-billing-dlq", "message_id": "...",
     "envelope": {...}, "failure": {...}, "body": "...", "message_attributes": {...},
     "attributes": {...}, "group_id": null, "sent_at": "...", "receive_count": 2,
     "wrapper": "raw", "decode_error": null}

``envelope`` is the decoded CloudEvents envelope (unwrapped from SNS or EventBridge): the part an
operator edits. ``replay`` (``bus.dlq.replay``) sends the envelope when it is there, else it decodes
``body``.

Every message SQS can hold makes a valid record: a ``Binary`` attribute's value is written as
``{"DataType": "Binary", "BinaryValue": "<base64>", "Encoding": "base64"}`` (custom types such as
``Binary.gz`` alike, their ``DataType`` kept), and text that is not valid Unicode (a lone surrogate)
is written with JSON's ``\\ud800`` escapes (``dumps``), which ``json.loads`` reads back as the same
string. ``sqs_attribute`` turns a written attribute back into what SQS was sent, byte for byte.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bus.aws import AwsClients
from bus.dlq.letter import DlqMessage, format_time
from bus.dlq.queues import Queues
from bus.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS, Scan
from bus.dlq.select import Selection
from bus.topology.model import Topology

FORMAT = "bus.dlq/1"


def to_record(letter: DlqMessage, queue: str) -> dict[str, Any]:
    """The JSON record of one dead letter (also what ``bus dlq show --json`` prints)."""
    return {
        "format": FORMAT,
        "queue": queue,
        "message_id": letter.message_id,
        "event_type": letter.event_type,
        "event_version": letter.event_version,
        "event_id": letter.event_id,
        "envelope": letter.envelope,
        "failure": letter.failure.to_dict(),
        "receive_count": letter.receive_count,
        "sent_at": format_time(letter.sent_at),
        "group_id": letter.group_id,
        "wrapper": letter.wrapper,
        "decode_error": letter.decode_error,
        "body": letter.body,
        "message_attributes": {k: json_attribute(v) for k, v in letter.message_attributes.items()},
        "attributes": dict(letter.system_attributes),
    }


def json_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A message attribute as JSON can carry it: binary values (``BinaryValue``, and the list
    forms) as base64 text, marked ``"Encoding": "base64"``."""
    out: dict[str, Any] = {}
    binary = False
    for key, item in value.items():
        if isinstance(item, bytes | bytearray | memoryview):
            out[key] = base64.b64encode(bytes(item)).decode("ascii")
            binary = True
        elif isinstance(item, list):
            out[key] = [
                base64.b64encode(bytes(i)).decode("ascii")
                if isinstance(i, bytes | bytearray | memoryview)
                else i
                for i in item
            ]
            binary = binary or any(isinstance(i, bytes | bytearray | memoryview) for i in item)
        else:
            out[key] = item
    if binary:
        out["Encoding"] = "base64"
    return out


def sqs_attribute(name: str, value: Any) -> dict[str, Any]:
    """The message attribute ``json_attribute`` wrote, as SendMessage takes it: base64 values
    decoded again. ``ValueError`` names the attribute when the record does not hold one."""
    if not isinstance(value, dict) or not isinstance(value.get("DataType"), str):
        raise ValueError(f"message attribute {name!r}: not an object with a DataType")
    base64_encoded = value.get("Encoding") == "base64"
    out: dict[str, Any] = {"DataType": value["DataType"]}
    if isinstance(value.get("StringValue"), str):
        out["StringValue"] = value["StringValue"]
    elif isinstance(value.get("BinaryValue"), str) and base64_encoded:
        try:
            out["BinaryValue"] = base64.b64decode(value["BinaryValue"], validate=True)
        except ValueError as exc:
            raise ValueError(f"message attribute {name!r}: BinaryValue is not base64") from exc
    else:
        raise ValueError(f"message attribute {name!r}: no StringValue or base64 BinaryValue")
    return out


_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
"""Characters JSON leaves unescaped that some line-based tools (``str.splitlines``, editors) take
for line breaks: escaped, so one record is always one line."""


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text of ``value``, non-ASCII kept readable, except when it holds text that is not valid
    Unicode (a lone surrogate): then every such character is escaped (``\\ud800``), so the output
    can always be written as UTF-8 and reads back the same. Unicode line and paragraph
    separators are escaped too (``_LINE_BREAKS``)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, indent=indent)
    for char, escape in _LINE_BREAKS.items():
        if char in text:
            text = text.replace(char, escape)  # only ever inside a JSON string
    return text


@dataclass(frozen=True)
class ExportReport:
    queue: str
    scanned: int
    exported: int
    path: str
    unreached: int = 0
    """About how many messages of the queue the export never received: in flight elsewhere, or
    (FIFO) of a group SQS did not hand out more of while earlier ones were in flight
    (see ``bus.dlq.scan``)."""

    @property
    def complete(self) -> bool:
        return self.unreached == 0


async def export(
    aws: AwsClients,
    queue: str,
    output: Path | IO[str],
    *,
    topology: Topology | None = None,
    env: str | None = None,
    selection: Selection | None = None,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> ExportReport:
    """Write every selected message of ``queue`` to ``output`` (a path or an open text file).

    Nothing is deleted: the messages stay invisible while the export runs, so each is written
    once, and are all made visible again when it ends. Messages in flight elsewhere cannot be
    read, nor (FIFO) more than 10 messages of a group; ``unreached`` says about how many.
    """
    ref = await Queues(aws, topology, env).resolve(queue)
    chosen = selection or Selection()
    now = datetime.now(UTC)
    scanned = exported = unreached = 0
    handle = output.open("w", encoding="utf-8") if isinstance(output, Path) else output
    try:
        async with Scan(aws, ref, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
            async for batch in scan:
                scanned += len(batch)
                for letter in batch:
                    if chosen.matches(letter, now):
                        record = to_record(letter, ref.name)
                        handle.write(dumps(record) + "\n")
                        exported += 1
            unreached = scan.unreached
        handle.flush()
    finally:
        if isinstance(output, Path):
            handle.close()
    name = str(output) if isinstance(output, Path) else getattr(output, "name", "<stream>")
    return ExportReport(
        queue=ref.name, scanned=scanned, exported=exported, path=str(name), unreached=unreached
    )
