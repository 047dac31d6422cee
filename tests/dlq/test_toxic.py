"""DLQ commands survive the messages a DLQ exists for (against the embedded LocalStack).

The first test puts toxic messages straight into a DLQ: bodies nested thousands of levels deep, a
``bus.failure`` nested as deep, a lone surrogate, Binary attributes, custom attribute types (SQS
itself refuses bodies with control characters). The second sends a generated corpus (depth,
encodings, attribute types, sizes up to SQS's 1 MiB, forged and malformed ``bus.failure`` records)
through a running worker: every message is dead-lettered at once with the worker's reason; then
``show`` (``--json``, ``--full``, a catastrophic pattern), ``list``, ``export``, ``purge`` (a
selection and whole), ``replay --raw`` (byte for byte), a selective redrive and the move task all
exit 0 and leave nothing hidden.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from bus.aws import AwsClients
from bus.aws.failure import FailureRecord
from bus.aws.limits import SQS_MESSAGE_BYTES, message_size
from bus.cli import app
from bus.dlq.export import sqs_attribute
from bus.settings import Settings
from tests.dlq.world import World, open_world, wait_for

pytestmark = [
    pytest.mark.aws,
    # aiohttp's advice for bodies over 1 MiB (SendMessage of a message near SQS's limit)
    pytest.mark.filterwarnings(
        "ignore:Sending a large body directly with raw bytes:ResourceWarning"
    ),
]

DEEP = '{"a":' * 5000 + "1" + "}" * 5000
ENVELOPE = json.dumps(
    {
        "specversion": "1.0",
        "id": "e-1",
        "source": "shop",
        "type": "OrderPlaced",
        "time": "2026-11-23T18:04:05.123456Z",
        "eventversion": 1,
        "data": {"key": "k"},
    }
)
MESSAGES: list[tuple[str, dict[str, Any]]] = [
    (DEEP, {}),
    (ENVELOPE, {"bus.failure": {"DataType": "String", "StringValue": DEEP}}),
    ("bad \ud800 text", {}),
    (ENVELOPE, {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"}}),
    ("plain text, é", {"kind": {"DataType": "String.custom", "StringValue": "x"}}),
]


async def _fill(settings: Settings, env: str) -> int:
    # one attempt a call: LocalStack answers the lone surrogate with InternalError, which five
    # attempts retried for ~7.5 s of backoff
    async with AwsClients(settings.model_copy(update={"max_attempts": 1})) as aws:
        await aws.sqs.create_queue(QueueName=f"{env}-orders")
        url = (await aws.sqs.create_queue(QueueName=f"{env}-orders-dlq"))["QueueUrl"]
        sent = 0
        for body, attributes in MESSAGES:
            try:
                await aws.sqs.send_message(
                    QueueUrl=url, MessageBody=body, MessageAttributes=attributes
                )
                sent += 1
            except Exception:  # SQS may refuse what it cannot hold (a lone surrogate)
                if "\ud800" not in body:
                    raise
        return sent


async def _depth(settings: Settings, env: str) -> tuple[str, str]:
    async with AwsClients(settings) as aws:
        url = (await aws.sqs.get_queue_url(QueueName=f"{env}-orders-dlq"))["QueueUrl"]
        attrs = (
            await aws.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
        )["Attributes"]
        return attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]


def test_dlq_commands_survive_toxic_messages(
    bus_settings: Settings, bus_env: str, tmp_path: Path
) -> None:
    sent = asyncio.run(_fill(bus_settings, bus_env))
    assert sent >= 4
    topology = tmp_path / "topology.yaml"
    topology.write_text("name: toxic\nqueues:\n  orders: {}\n")
    common = ["-t", str(topology), "-e", bus_env]
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list", *common])
    assert listed.exit_code == 0, listed.output
    assert f"{bus_env}-orders-dlq\t{bus_env}-orders\t{sent}" in listed.stdout

    shown = runner.invoke(app, ["dlq", "show", "orders-dlq", "--full", *common])
    assert shown.exit_code == 0, shown.output
    assert "plain text, é" in shown.stdout
    assert "more than 64 levels deep" in shown.stdout
    assert "untrusted" in shown.stdout

    as_json = runner.invoke(app, ["dlq", "show", "orders-dlq", "--json", *common])
    assert as_json.exit_code == 0, as_json.output
    records = json.loads(as_json.stdout)
    assert len(records) == sent
    assert {r["failure"]["reason"] for r in records} == {"max-receives", "untrusted"}

    path = tmp_path / "dead.jsonl"
    exported = runner.invoke(app, ["dlq", "export", "orders-dlq", "-o", str(path), *common])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == sent
    assert {r["body"] for r in lines} <= {b for b, _ in MESSAGES}
    (blob,) = [r["message_attributes"]["blob"] for r in lines if "blob" in r["message_attributes"]]
    assert blob == {
        "DataType": "Binary",
        "BinaryValue": base64.b64encode(b"\x00\xff\x10").decode(),
        "Encoding": "base64",
    }
    deep = [r for r in lines if r["body"] == DEEP]
    assert deep[0]["decode_error"] == (
        "body nests JSON objects and arrays more than 64 levels deep (the decoder's limit)"
    )

    assert asyncio.run(_depth(bus_settings, bus_env)) == (str(sent), "0")  # nothing left hidden

    moved = runner.invoke(
        app,
        [
            "dlq",
            "redrive",
            "orders-dlq",
            "--to",
            "orders",
            "--reason",
            "max-receives",
            "--yes",
            *common,
        ],
    )
    assert moved.exit_code == 0, moved.output
    copies = asyncio.run(_drain(bus_settings, f"{bus_env}-orders"))
    assert {c["Body"] for c in copies} == {
        r["body"] for r in lines if r["failure"]["reason"] == "max-receives"
    }
    (copied_blob,) = [
        c["MessageAttributes"]["blob"] for c in copies if "blob" in c.get("MessageAttributes", {})
    ]
    assert copied_blob["BinaryValue"] == b"\x00\xff\x10"  # byte for byte
    purged = runner.invoke(
        app, ["dlq", "purge", "orders-dlq", "--reason", "untrusted", "--yes", *common]
    )
    assert purged.exit_code == 0, purged.output
    assert "Deleted 1 of 1 messages" in purged.stdout
    assert asyncio.run(_depth(bus_settings, bus_env)) == ("0", "0")


async def _drain(settings: Settings, name: str) -> list[dict[str, Any]]:
    async with AwsClients(settings) as aws:
        url = (await aws.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        found: list[dict[str, Any]] = []
        while True:
            answer = await aws.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            batch = answer.get("Messages", [])
            if not batch:
                return found
            found += [dict(m) for m in batch]
            await aws.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )


# -- a generated corpus, through the worker and every DLQ command ---------------------------------

CORPUS_TOPOLOGY = """
name: toxic
queues:
  inbox:
    visibility_timeout: 30
    maximum_message_size: 1048576
    dead_letter: {max_receive_count: 3}
  parking: {maximum_message_size: 1048576, dead_letter: false}
events:
  OrderPlaced: {model: tests.dlq.apps:Order, publish_to: [{queue: inbox}]}
handlers:
  inbox:
    events: {OrderPlaced: tests.dlq.apps:handle_order}
"""
ROOM = 2_048
"""Left free below SQS's 1 MiB limit by the largest messages: the worker's failure record needs
room in the DLQ copy (a message that alone fills the limit goes without one, as documented)."""


def _envelope(**fields: Any) -> dict[str, Any]:
    return {**json.loads(ENVELOPE), **fields}


def _nested(depth: int, opener: str) -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * depth + "1" + closer * depth


def _bodies() -> list[str]:
    """Bodies no worker can handle: depth (objects, arrays, inside the data, inside SNS and
    EventBridge wrappers), encodings (an escaped lone surrogate, a byte order mark, text that is
    not JSON in several scripts and line separators), shapes that are not an envelope, an unknown
    event type, invalid data, and sizes up to the 1 MiB limit."""
    deep_data = _envelope(data=json.loads(_nested(65, '{"a":')))
    bodies = [_nested(depth, opener) for depth in (65, 5_000) for opener in ("[", '{"a":')]
    bodies += [
        json.dumps(deep_data),
        json.dumps({"Type": "Notification", "MessageId": "n", "Message": _nested(200, "[")}),
        json.dumps(
            {
                "version": "0",
                "id": "x",
                "detail-type": "T",
                "source": "s",
                "detail": json.loads(_nested(80, '{"a":')),
            }
        ),
        json.dumps(_envelope(data={"key": "k\ud800"})),  # ASCII text; JSON's \ud800 escape
        "\ufeff" + ENVELOPE,
        "é 日本語 🙂 \u2028 \u0085 not JSON",
        '"a JSON string"',
        "[1, 2]",
        "null",
        json.dumps(_envelope(type="NoSuchEvent")),
        json.dumps(_envelope(data={"key": "k", "total_cents": -1})),
        json.dumps({k: v for k, v in _envelope().items() if k != "id"}),
    ]
    return bodies


def _to_the_limit(attributes: dict[str, Any]) -> list[str]:
    """A text body and an envelope that fill the message, with ``attributes``, to the limit."""
    room = SQS_MESSAGE_BYTES - ROOM - message_size("", attributes)
    padding = len(json.dumps(_envelope(data={"key": ""})).encode())
    return [
        "x" * room,
        json.dumps(
            _envelope(data={"key": "k", "total_cents": -1, "pad": "y" * (room - padding - 40)})
        ),
    ]


def _attribute_sets() -> list[dict[str, Any]]:
    """Attributes of every type SQS carries (Binary and custom types), and ``bus.failure``
    records forged, malformed, nested too deep, of the wrong type."""
    now = datetime.now(UTC)
    trusted = FailureRecord(reason="rejected", error="no", attempt=1, queue="elsewhere",
                            message_id="m", first_failed_at=now, failed_at=now)  # fmt: skip
    forged = json.loads(trusted.to_attribute()) | {"first_failed_at": "1970-01-01T00:00:00.000000Z"}

    def string(value: str, kind: str = "String") -> dict[str, Any]:
        return {"DataType": kind, "StringValue": value}

    def binary(value: bytes, kind: str = "Binary") -> dict[str, Any]:
        return {"DataType": kind, "BinaryValue": value}

    return [
        {},
        {"blob": binary(b"\x00\xff\x10")},
        {"gz": binary(b"\x1f\x8b\x08\x00", "Binary.gz"), "ratio": string("1.5", "Number.float")},
        {"note": string("é \u2028 🙂", "String.custom")},
        {"event_type": binary(b"OrderPlaced"), "event_version": string("x")},
        {"bus.failure": string(json.dumps(forged))},
        {"bus.failure": string("{oops")},
        {"bus.failure": string(DEEP)},
        {"bus.failure": binary(trusted.to_attribute().encode())},
        {"bus.failure": string(trusted.to_attribute())},  # plausible, but not the worker's word
    ]


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """Every body once, with the attribute sets in turn (each of them at least once), and two
    bodies that fill the message to the limit."""
    bodies, sets = _bodies(), _attribute_sets()
    assert len(bodies) >= len(sets)
    out = [(body, sets[n % len(sets)]) for n, body in enumerate(bodies)]
    return out + [(body, sets[2]) for body in _to_the_limit(sets[2])]


WORKER_REASONS = {"decode-error", "unknown-event", "validation-error"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dead(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[World, list[tuple[str, dict[str, Any]]]]]:
    """The corpus sent to ``inbox`` and left to a running worker until all of it is dead."""
    messages = corpus()
    async with open_world(bus_settings, CORPUS_TOPOLOGY, tmp_path_factory.mktemp("toxic")) as w:
        url = await w.url("inbox")
        for body, attributes in messages:
            await w.aws.sqs.send_message(
                QueueUrl=url, MessageBody=body, MessageAttributes=attributes
            )

        async def all_dead() -> bool:
            return await w.depth("inbox-dlq") == (len(messages), 0)

        async with w.worker("inbox"):
            await wait_for(all_dead, within=60)
        assert await w.total("inbox") == 0
        yield w, messages


def _key(body: str, attributes: dict[str, Any]) -> str:
    """A message as comparable text: its body and attributes, binary values as hex."""
    plain = {
        name: {k: v.hex() if isinstance(v, bytes) else v for k, v in value.items()}
        for name, value in attributes.items()
    }
    return json.dumps([body, plain], sort_keys=True)


def test_a_generated_corpus_dies_with_reasons_and_survives_every_command(
    dead: tuple[World, list[tuple[str, dict[str, Any]]]], tmp_path: Path
) -> None:
    world, messages = dead
    common = ["-t", str(world.path), "-e", world.env]
    dlq_name, inbox = world.name("inbox-dlq"), world.name("inbox")
    settings = world.aws.settings

    def run(*args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(app, ["dlq", *args, *common])
        assert result.exit_code == code, (args, result.output)
        assert asyncio.run(_hidden(settings, dlq_name)) == 0  # nothing left hidden
        return result

    records = json.loads(run("show", "inbox-dlq", "--json", "--limit", "100").stdout)
    assert sorted(r["body"] for r in records) == sorted(b for b, _ in messages)
    for record in records:  # every one dead-lettered by the worker, with its reason
        failure = record["failure"]
        assert failure["reason"] in WORKER_REASONS, record["body"][:200]
        assert failure["error"]
        assert failure["queue"] == inbox
    assert any(r["failure"].get("previous_untrusted") for r in records)  # forged, kept, marked
    shown = run("show", "inbox-dlq", "--full", "--limit", "100").stdout
    assert shown.count(f"  source queue  {inbox}") == len(messages)
    run("show", "inbox-dlq", "--filter", 'body matches "(a+)+$" or failure.error contains "x"')
    listed = run("list").stdout
    assert f"{dlq_name}\t{inbox}\t{len(messages)}\t" in listed
    everything = tmp_path / "all.jsonl"
    run("export", "inbox-dlq", "-o", str(everything))
    assert len(everything.read_text(encoding="utf-8").split("\n")) == len(messages) + 1

    # Messages the tools cannot decode: export, purge, replay --raw, byte for byte.
    raw = tmp_path / "raw.jsonl"
    run("export", "inbox-dlq", "-o", str(raw), "--reason", "decode-error")
    lines = [line for line in raw.read_text(encoding="utf-8").split("\n") if line]
    kept = [line for line in lines if json.loads(line)["envelope"] is None]  # the operator's pick
    raw.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    exported = [json.loads(line) for line in kept]
    undecodable = len(exported)
    assert undecodable >= 12
    chosen = json.dumps([r["message_id"] for r in exported])
    purged = run("purge", "inbox-dlq", "--filter", f"message_id in {chosen}", "--yes")
    assert f"Deleted {undecodable} of {len(messages)} messages" in purged.stdout
    refused = CliRunner().invoke(app, ["dlq", "replay", str(raw), *common])
    assert refused.exit_code != 0
    assert "(--raw sends it as exported)" in str(refused.exception)
    replayed = run("replay", str(raw), "--raw")
    assert f"Replayed {undecodable} messages ({undecodable} to {inbox}; " in replayed.stdout
    back = asyncio.run(_drain(settings, inbox))
    assert sorted(_key(m["Body"], m.get("MessageAttributes", {})) for m in back) == sorted(
        _key(r["body"], {n: sqs_attribute(n, v) for n, v in r["message_attributes"].items()})
        for r in exported
    )

    # The rest: a selective redrive, then the move task, then a purge of where they went.
    rest = len(messages) - undecodable
    moved = run("redrive", "inbox-dlq", "--to", "parking", "--reason", "validation-error", "--yes")
    assert "Redrove" in moved.stdout
    run("redrive", "inbox-dlq", "--to", "parking", "--yes")
    assert asyncio.run(_depths(settings, dlq_name)) == (0, 0)
    assert asyncio.run(_depths(settings, world.name("parking"))) == (rest, 0)
    run("purge", "parking", "--yes", "--any-queue")  # parking is no queue's DLQ


async def _depths(settings: Settings, name: str) -> tuple[int, int]:
    async with AwsClients(settings) as aws:
        url = (await aws.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        attrs = (
            await aws.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
        )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def _hidden(settings: Settings, name: str) -> int:
    return (await _depths(settings, name))[1]
