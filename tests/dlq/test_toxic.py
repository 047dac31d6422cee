"""DLQ commands survive the messages a DLQ exists for (against the embedded LocalStack): bodies
nested thousands of levels deep, a ``bus.failure`` nested as deep, a lone surrogate, Binary
attributes, custom attribute types (SQS itself refuses bodies with control characters). ``list``, ``show`` (with and without ``--json``) and
``export`` exit 0, keep their output valid, and leave nothing hidden."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.aws import AwsClients
from bus.cli import app
from bus.settings import Settings

pytestmark = pytest.mark.aws

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
    async with AwsClients(settings) as aws:
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
