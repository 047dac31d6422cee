"""Every DLQ command on DLQs the worker filled through its real failure paths.

One topology for the module: seven source queues (each with its DLQ; two share one), one parking
queue. The worker consumes the same 16 messages on each source queue: 3 are handled, 4 fail in the
handler on both receives the queue allows (handler-error), 3 are rejected, 2 fail validation, 2
cannot be decoded and 1 has an unknown event type: 12 dead letters per source queue.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from bus import dlq
from bus.aws import AwsClients
from bus.aws.failure import FailureRecord
from bus.cli import app, main
from bus.dlq.letter import DlqMessage
from bus.errors import ConfigError, FilterError, ReplayError, SettingsError
from bus.settings import Settings
from tests.dlq import apps
from tests.dlq.world import World, envelope, open_world, routing, wait_for

pytestmark = pytest.mark.aws

# A visibility timeout well above what one message takes even on a loaded 2-core machine: with 5 s
# a slow DLQ send could let a message come back and be dead-lettered twice (at-least-once, but the
# fixture counts exactly). Redeliveries here are set by the worker, not by the timeout.
SOURCES = ("orders", "payments", "refunds", "shipments", "deliveries", "returns", "exchanges")
QUEUE = """
    visibility_timeout: 30
    dead_letter: {max_receive_count: 2}"""
SHARED = """
    visibility_timeout: 30
    dead_letter: {queue: shared-dlq, max_receive_count: 2}"""
HANDLER = """
    events: {OrderPlaced: tests.dlq.apps:handle_order}
    retry: {attempts: 1, redelivery: {initial: 0, maximum: 0, jitter: false}}"""
TOPOLOGY = f"""
name: dlqtest
queues:
  orders:{QUEUE}
  payments:{QUEUE}
  refunds:{QUEUE}
  shipments:{QUEUE}
  deliveries:{QUEUE}
  returns:{SHARED}
  exchanges:{SHARED}
  shared-dlq: {{}}
  parking: {{dead_letter: false}}
  strays: {{dead_letter: false}}
events:
  OrderPlaced:
    model: tests.dlq.apps:Order
    publish_to: [{", ".join(f"{{queue: {q}}}" for q in SOURCES)}]
handlers:
""" + "".join(f"  {q}:{HANDLER}\n" for q in SOURCES)

ORDERS = [
    apps.Order(key="ok-1", total_cents=100),
    apps.Order(key="ok-2", total_cents=200_000),
    apps.Order(key="ok-3", total_cents=300, country="FR"),
    apps.Order(key="fail-1", total_cents=500, behaviour="fail"),
    apps.Order(key="fail-2", total_cents=150_000, behaviour="fail"),
    apps.Order(key="fail-3", total_cents=250_000, country="FR", behaviour="fail"),
    apps.Order(key="fail-4", total_cents=2_000, behaviour="fail"),
    apps.Order(key="reject-1", total_cents=10, behaviour="reject"),
    apps.Order(key="reject-2", total_cents=120_000, behaviour="reject"),
    apps.Order(key="reject-3", total_cents=30, country="FR", behaviour="reject"),
]
INVALID = [{"key": "invalid-1", "total_cents": -1}, {"key": "invalid-2", "total_cents": "lots"}]
REASONS = {
    "handler-error": 4,
    "rejected": 3,
    "validation-error": 2,
    "decode-error": 2,
    "unknown-event": 1,
}
PER_DLQ = sum(REASONS.values())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("dlq-ops")) as w:
        await w.publisher().publish_many(ORDERS, check=True)
        for queue in SOURCES:
            bodies = [json.dumps(envelope("OrderPlaced", data)) for data in INVALID]
            await w.send_raw(queue, bodies, routing("OrderPlaced"))
            await w.send_raw(queue, ["{not json", "plain text"])
            await w.send_raw(
                queue, [json.dumps(envelope("Nope", {"key": "nope-1"}))], routing("Nope")
            )
        async with w.worker(*SOURCES):

            async def filled() -> bool:
                totals = [await w.total(f"{q}-dlq") for q in SOURCES[:5]]
                return totals == [PER_DLQ] * 5 and await w.total("shared-dlq") == 2 * PER_DLQ

            await wait_for(filled, within=60)
        yield w


def key_of(letter: DlqMessage) -> str:
    data = letter.data
    if isinstance(data, dict) and "key" in data:
        return str(data["key"])
    return letter.body


def cli(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input)


# -- list and show --------------------------------------------------------------------------------


async def test_list_reports_depth_sources_age_and_reasons(world: World) -> None:
    summaries = {
        s.queue.logical: s for s in await dlq.list_queues(world.aws, world.topology, world.env)
    }
    assert set(summaries) == {f"{q}-dlq" for q in SOURCES[:5]} | {"shared-dlq"}
    orders = summaries["orders-dlq"]
    assert (orders.depth, orders.in_flight, orders.sampled) == (PER_DLQ, 0, PER_DLQ)
    assert [s.name for s in orders.sources] == [world.name("orders")]
    assert dict(orders.reasons) == REASONS
    assert orders.reasons[0] == ("handler-error", 4)
    assert orders.oldest is not None
    shared = summaries["shared-dlq"]
    assert sorted(s.name for s in shared.sources) == sorted(
        [world.name("returns"), world.name("exchanges")]
    )
    assert dict(shared.reasons) == {r: 2 * n for r, n in REASONS.items()}
    # The peek behind the ages and reasons consumed nothing and left nothing hidden.
    assert await world.depth("orders-dlq") == (PER_DLQ, 0)


def test_cli_list_json(world: World) -> None:
    result = cli("dlq", "list", "-t", str(world.path), "-e", world.env, "--json")
    assert result.exit_code == 0, result.output
    rows = {row["logical"]: row for row in json.loads(result.stdout)}
    assert rows["orders-dlq"]["depth"] == PER_DLQ
    assert rows["orders-dlq"]["reasons"] == REASONS
    assert rows["orders-dlq"]["sources"] == [world.name("orders")]
    table = cli("dlq", "list", "-t", str(world.path), "-e", world.env)
    assert table.exit_code == 0
    assert "handler-error 4" in table.stdout


async def test_peek_leaves_every_message_in_the_dlq(world: World) -> None:
    first = await dlq.peek(
        world.aws, "orders-dlq", topology=world.topology, env=world.env, limit=None
    )
    assert len(first) == PER_DLQ
    assert await world.depth("orders-dlq") == (PER_DLQ, 0)  # all visible again at once
    second = await dlq.peek(world.aws, world.name("orders-dlq"), limit=None)
    assert {d.message_id for d in second} == {d.message_id for d in first}
    counts = {d.message_id: d.receive_count for d in first}
    # SQS counts every receive, peeks included.
    assert all(d.receive_count == counts[d.message_id] + 1 for d in second)
    assert len(await dlq.peek(world.aws, await world.url("orders-dlq"), limit=5)) == 5


async def test_show_decodes_the_failure(world: World) -> None:
    letters = {
        key_of(d): d for d in await dlq.peek(world.aws, world.name("orders-dlq"), limit=None)
    }
    failed = letters["fail-2"]
    assert (failed.event_type, failed.event_version) == ("OrderPlaced", 1)
    assert failed.event_id is not None
    f = failed.failure
    assert f.reason == "handler-error"
    assert f.error_type == "tests.dlq.apps.Declined"
    assert f.error == "card declined for order fail-2"
    assert f.attempt == 2
    assert f.queue == world.name("orders")
    assert f.first_failed_at is not None
    assert f.failed_at is not None
    assert f.first_failed_at <= f.failed_at
    assert letters["reject-1"].failure.reason == "rejected"
    assert letters["reject-1"].failure.attempt == 1
    assert letters["invalid-1"].failure.reason == "validation-error"
    assert "total_cents" in str(letters["invalid-1"].failure.error)
    assert letters["nope-1"].failure.reason == "unknown-event"
    garbage = letters["{not json"]
    assert garbage.failure.reason == "decode-error"
    assert garbage.envelope is None
    assert garbage.decode_error is not None


def test_cli_show(world: World) -> None:
    args = ("dlq", "show", "orders-dlq", "-t", str(world.path), "-e", world.env)
    result = cli(*args, "--reason", "handler-error", "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 4
    assert {r["failure"]["reason"] for r in records} == {"handler-error"}
    assert {r["queue"] for r in records} == {world.name("orders-dlq")}
    text = cli(*args, "--filter", 'data.key == "fail-3"')
    assert text.exit_code == 0, text.output
    for expected in (
        "handler-error (attempt 2)",
        "tests.dlq.apps.Declined: card declined",
        world.name("orders"),
        "first failed",
        "last failed",
        '"key": "fail-3"',
    ):
        assert expected in text.stdout
    bad = cli(*args, "--filter", "data.total_cents >> 3")
    assert isinstance(bad.exception, FilterError)
    assert "position 19" in str(bad.exception)


@pytest.mark.parametrize(
    ("kwargs", "keys"),
    [
        ({"reasons": ["handler-error"]}, {"fail-1", "fail-2", "fail-3", "fail-4"}),
        (
            {"reasons": ["rejected", "unknown-event"]},
            {"reject-1", "reject-2", "reject-3", "nope-1"},
        ),
        ({"event_types": ["Nope"]}, {"nope-1"}),
        ({"newer_than": "1h"}, None),
        ({"older_than": "1h"}, set()),
        (
            {
                "filter": 'type == "OrderPlaced" and data.total_cents > 1000 and failure.reason == "handler-error"'
            },
            {"fail-2", "fail-3", "fail-4"},
        ),
        ({"filter": 'data.country == "FR"'}, {"fail-3", "reject-3"}),
        (
            {"filter": 'failure.error contains "reject" or data.total_cents < 0'},
            {"reject-1", "reject-2", "reject-3", "invalid-1"},
        ),
        ({"filter": "envelope.specversion == null"}, {"{not json", "plain text"}),
        (
            {
                "filter": 'failure.error_type matches "Declined$" and data.total_cents in [500, 2000]'
            },
            {"fail-1", "fail-4"},
        ),
        ({"filter": 'failure.queue == "nowhere"'}, set()),
    ],
)
async def test_filters_select_exactly(
    world: World, kwargs: dict[str, Any], keys: set[str] | None
) -> None:
    selection = dlq.Selection.build(**kwargs)
    found = await dlq.peek(world.aws, world.name("orders-dlq"), limit=None, selection=selection)
    every = {key_of(d) for d in await dlq.peek(world.aws, world.name("orders-dlq"), limit=None)}
    assert {key_of(d) for d in found} == (every if keys is None else keys)


async def test_filter_by_event_id(world: World) -> None:
    letters = await dlq.peek(world.aws, world.name("orders-dlq"), limit=None)
    wanted = {d.event_id for d in letters if key_of(d) in ("fail-1", "reject-2")}
    found = await dlq.peek(
        world.aws,
        world.name("orders-dlq"),
        limit=None,
        selection=dlq.Selection.build(event_ids=[str(i) for i in wanted]),
    )
    assert {key_of(d) for d in found} == {"fail-1", "reject-2"}


# -- export and replay ----------------------------------------------------------------------------


async def test_export_writes_everything_and_deletes_nothing(world: World, tmp_path: Path) -> None:
    report = await dlq.export(world.aws, world.name("refunds-dlq"), tmp_path / "all.jsonl")
    assert (report.scanned, report.exported) == (PER_DLQ, PER_DLQ)
    records = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert Counter(r["failure"]["reason"] for r in records) == REASONS
    sample = next(r for r in records if r["failure"]["reason"] == "handler-error")
    assert sample["envelope"]["type"] == "OrderPlaced"
    assert sample["message_attributes"]["bus.failure"]["DataType"] == "String"
    assert sample["attributes"]["ApproximateReceiveCount"]
    assert json.loads(sample["body"]) == sample["envelope"]
    assert await world.depth("refunds-dlq") == (PER_DLQ, 0)


async def test_replay_refuses_invalid_events_before_sending(world: World, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    selection = dlq.Selection.build(reasons=["handler-error"])
    await dlq.export(world.aws, world.name("refunds-dlq"), path, selection=selection)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1]["envelope"]["data"]["total_cents"] = -5  # still invalid
    records[3]["envelope"]["type"] = "Nope"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")
    before = (await world.depth("refunds"), await world.depth("refunds-dlq"))
    with pytest.raises(ReplayError) as info:
        await dlq.replay(
            world.aws, path, registry=world.registry, topology=world.topology, env=world.env
        )
    lines = {p.line: p.message for p in info.value.problems}
    assert sorted(lines) == [2, 4, 5]
    assert "data.total_cents" in lines[2]
    assert "greater than or equal to 0" in lines[2]
    assert "unknown event type 'Nope'" in lines[4]
    assert "not JSON" in lines[5]
    assert f"{path}:2:1:" in str(info.value)
    assert (
        (await world.depth("refunds"), await world.depth("refunds-dlq"))
        == before
        == ((0, 0), (PER_DLQ, 0))
    )


async def test_export_edit_replay_is_accepted_by_the_handler(world: World, tmp_path: Path) -> None:
    path = tmp_path / "invalid.jsonl"
    selection = dlq.Selection.build(reasons=["validation-error"])
    exported = await dlq.export(
        world.aws, "refunds-dlq", path, topology=world.topology, env=world.env, selection=selection
    )
    assert exported.exported == 2
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:  # the operator fixes the payloads
        record["envelope"]["data"]["total_cents"] = 4200
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = await dlq.replay(
        world.aws, path, registry=world.registry, topology=world.topology, env=world.env
    )
    assert (report.sent, report.failed) == (2, {})
    assert dict(report.destinations) == {world.name("refunds"): 2}
    async with world.worker("refunds"):
        await wait_for(
            lambda: {h.key for h in apps.handled("refunds")} >= {"invalid-1", "invalid-2"}
        )
    fixed = [h for h in apps.handled("refunds") if h.key.startswith("invalid-")]
    assert sorted(h.data["total_cents"] for h in fixed) == [4200, 4200]
    assert {h.event_id for h in fixed} == {r["event_id"] for r in records}
    # The originals are still in the DLQ until the operator purges them.
    ids = [r["event_id"] for r in records]
    purged = await dlq.purge(
        world.aws, world.name("refunds-dlq"), selection=dlq.Selection.build(event_ids=ids)
    )
    assert purged.deleted == 2
    assert await world.total("refunds-dlq") == PER_DLQ - 2


def test_cli_export_and_replay(world: World, tmp_path: Path) -> None:
    common = ("-t", str(world.path), "-e", world.env)
    out = tmp_path / "cli.jsonl"
    exported = cli("dlq", "export", "refunds-dlq", "-o", str(out), "--reason", "rejected", *common)
    assert exported.exit_code == 0, exported.output
    assert "Exported 3 of" in exported.stdout
    assert len(out.read_text().splitlines()) == 3
    dry = cli("dlq", "replay", str(out), "--to", "parking", "--dry-run", *common)
    assert dry.exit_code == 0, dry.output
    assert f"would send 3 to {world.name('parking')}" in dry.stdout
    garbage = tmp_path / "garbage.jsonl"
    cli("dlq", "export", "refunds-dlq", "-o", str(garbage), "--reason", "decode-error", *common)
    refused = cli("dlq", "replay", str(garbage), *common)
    assert isinstance(refused.exception, ReplayError)
    assert [p.line for p in refused.exception.problems] == [1, 2]
    assert "no envelope" in str(refused.exception)


def test_cli_replay_sends_only_to_the_topologys_queues_unless_to_says(
    world: World, tmp_path: Path
) -> None:
    common = ("-t", str(world.path), "-e", world.env)
    outsider = f"{world.env}-outsider"
    asyncio.run(_create_queue(world, outsider))
    path = tmp_path / "edited.jsonl"
    exported = cli("dlq", "export", "refunds-dlq", "-o", str(path), "--reason", "rejected", *common)
    assert exported.exit_code == 0, exported.output
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["failure"]["queue"] = outsider  # an edited (or forged) record
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    refused = cli("dlq", "replay", str(path), "--dry-run", *common)
    assert isinstance(refused.exception, ReplayError)
    assert [p.line for p in refused.exception.problems] == [1]
    assert f"queue {outsider} is not a queue of the topology" in str(refused.exception)
    assert f"use --to {outsider}" in str(refused.exception)
    allowed = cli("dlq", "replay", str(path), "--dry-run", "--to", outsider, *common)
    assert allowed.exit_code == 0, allowed.output
    assert f"would send 3 to {outsider}" in allowed.stdout


async def _create_queue(world: World, name: str) -> None:
    async with AwsClients(world.aws.settings) as aws:
        await aws.sqs.create_queue(QueueName=name)


# -- purge ----------------------------------------------------------------------------------------


async def test_purge_with_a_filter_deletes_only_the_selection(world: World) -> None:
    report = await dlq.purge(
        world.aws,
        "payments-dlq",
        topology=world.topology,
        env=world.env,
        selection=dlq.Selection.build('failure.reason == "decode-error" or data.country == "FR"'),
    )
    assert (report.deleted, report.scanned) == (4, PER_DLQ)
    left = await dlq.peek(world.aws, world.name("payments-dlq"), limit=None)
    assert sorted(key_of(d) for d in left) == sorted(
        ["fail-1", "fail-2", "fail-4", "reject-1", "reject-2", "invalid-1", "invalid-2", "nope-1"]
    )


def test_cli_purge_asks_first(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[str] = []
    check = dlq.Queues.receives_dead_letters

    async def counted(queues: dlq.Queues, queue: Any) -> bool:
        checks.append(queue.name)
        return await check(queues, queue)

    monkeypatch.setattr(dlq.Queues, "receives_dead_letters", counted)
    args = ("dlq", "purge", "payments-dlq", "-t", str(world.path), "-e", world.env)
    refused = cli(*args, "--reason", "unknown-event")
    assert refused.exit_code == 1
    assert "not a terminal, so not asking" in refused.stderr
    assert "Pass --yes" in refused.stderr
    done = cli(*args, "--reason", "unknown-event", "--yes")
    assert done.exit_code == 0, done.output
    assert "Deleted 1 of" in done.stdout
    everything = cli(*args, "--yes")
    assert everything.exit_code == 0, everything.output
    assert "Purged" in everything.stdout
    assert checks == [world.name("payments-dlq")] * 3  # once per command, before it asks


def test_cli_purge_refuses_a_queue_that_is_not_a_dead_letter_queue(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["dlq", "purge", "orders", "-t", str(world.path), "-e", world.env, "--yes"]
    for selection in ([], ["--reason", "decode-error"]):  # "orders" typed for "orders-dlq"
        with pytest.raises(SystemExit) as exited:
            main([*args, *selection])
        assert exited.value.code == 3
        assert capsys.readouterr().err.startswith(
            f"error: {world.name('orders')} is not a dead-letter queue (the topology declares it "
            "as no queue's, SNS subscription's or rule target's DLQ, and SQS reports no queue "
            "whose redrive policy points at it): purging it would delete live messages;"
        )


async def test_purge_asks_sqs_which_queues_are_dead_letter_queues(world: World) -> None:
    before = await world.total("orders")
    await world.send_raw("orders", ["{not json, but live"])  # a live message, not yet handled
    with pytest.raises(ConfigError, match="is not a dead-letter queue"):
        await dlq.purge(world.aws, await world.url("orders"))  # no topology: SQS is asked
    assert await world.total("orders") == before + 1  # nothing deleted
    # a DLQ named by its URL, without the topology: SQS reports its source, so it is one
    none = dlq.Selection.build(event_ids=["none-of-them"])
    kept = await dlq.purge(world.aws, await world.url("orders-dlq"), selection=none)
    assert (kept.deleted, kept.scanned) == (0, PER_DLQ)
    live = dlq.Selection.build('body startswith "{not json, but"')
    moved = await dlq.purge(world.aws, await world.url("orders"), selection=live, any_queue=True)
    assert moved.deleted == 1  # any_queue: purged as asked
    assert await world.total("orders") == before


def test_cli_redrive_dry_run_moves_nothing(world: World) -> None:
    args = ("dlq", "redrive", "orders-dlq", "-t", str(world.path), "-e", world.env, "--dry-run")
    whole = cli(*args)
    assert whole.exit_code == 0, whole.output
    assert f"Would move about {PER_DLQ} messages" in whole.stdout
    assert "message move task" in whole.stdout
    some = cli(*args, "--filter", 'data.country == "FR"')
    assert some.exit_code == 0, some.output
    assert f"Dry run: 2 of {PER_DLQ} messages selected; would send 2 to " in some.stdout


# -- redrive --------------------------------------------------------------------------------------


async def test_selective_redrive_back_to_the_source(world: World) -> None:
    options = dlq.RedriveOptions(
        selection=dlq.Selection.build(reasons=["handler-error", "rejected"])
    )
    dry = await dlq.redrive_selected(
        world.aws,
        "shipments-dlq",
        topology=world.topology,
        env=world.env,
        options=dlq.RedriveOptions(selection=options.selection, dry_run=True),
    )
    assert (dry.selected, dry.moved, dict(dry.destinations)) == (7, 0, {world.name("shipments"): 7})
    assert await world.depth("shipments-dlq") == (PER_DLQ, 0)
    apps.FIXED["orders"] = True  # the fix is deployed
    try:
        report = await dlq.redrive_selected(
            world.aws, "shipments-dlq", topology=world.topology, env=world.env, options=options
        )
        assert (report.scanned, report.selected, report.moved) == (PER_DLQ, 7, 7)
        assert report.failed == {}
        assert report.not_deleted == {}
        async with world.worker("shipments"):
            await wait_for(lambda: len(apps.handled("shipments")) == 3 + 7)
    finally:
        apps.FIXED["orders"] = False
    assert {h.key for h in apps.handled("shipments")} >= {f"fail-{i}" for i in range(1, 5)}
    assert await world.depth("shipments-dlq") == (PER_DLQ - 7, 0)


async def test_limit_and_rate(world: World) -> None:
    options = dlq.RedriveOptions(to="parking", limit=3, rate=50)
    report = await dlq.redrive_selected(
        world.aws, "shipments-dlq", topology=world.topology, env=world.env, options=options
    )
    assert report.moved == 3
    assert await world.total("parking") == 3
    assert await world.total("shipments-dlq") == PER_DLQ - 7 - 3


async def test_whole_queue_redrive_with_the_move_task(world: World) -> None:
    task = await dlq.start_move_task(
        world.aws, "deliveries-dlq", topology=world.topology, env=world.env, to="parking"
    )
    statuses = [s async for s in dlq.follow(world.aws, task, interval=0.2)]
    assert statuses[-1].status == "COMPLETED"
    assert statuses[-1].moved == PER_DLQ
    assert await world.depth("deliveries-dlq") == (0, 0)
    parked = await dlq.peek(world.aws, world.name("parking"), limit=None)
    from_deliveries = [d for d in parked if d.failure.queue == world.name("deliveries")]
    assert len(from_deliveries) == PER_DLQ
    assert Counter(d.failure.reason for d in from_deliveries) == REASONS


async def test_a_shared_dlq_sends_each_message_back_where_it_failed(world: World) -> None:
    with pytest.raises(SettingsError, match="serves several queues"):
        await dlq.start_move_task(world.aws, "shared-dlq", topology=world.topology, env=world.env)
    report = await dlq.redrive_selected(
        world.aws,
        "shared-dlq",
        topology=world.topology,
        env=world.env,
        options=dlq.RedriveOptions(selection=dlq.Selection.build(reasons=["rejected"])),
    )
    assert report.moved == 6
    assert dict(report.destinations) == {world.name("returns"): 3, world.name("exchanges"): 3}
    assert await world.total("returns") == 3
    assert await world.total("exchanges") == 3
    # Redriven messages keep bus.failure, so a second death keeps its first failure time.
    back = await dlq.peek(world.aws, world.name("returns"), limit=None)
    assert {d.failure.reason for d in back} == {"rejected"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stray(world: World) -> str:
    """A dead letter in ``strays`` whose ``bus.failure`` names a queue that does not exist."""
    now = datetime.now(UTC)
    record = FailureRecord(
        reason="rejected",
        error_type="bus.control.Reject",
        error="stray",
        attempt=1,
        queue="nowhere-at-all",
        message_id="m-stray",
        first_failed_at=now,
        failed_at=now,
    )
    attributes = {"bus.failure": {"DataType": "String", "StringValue": record.to_attribute()}}
    body = json.dumps(envelope("OrderPlaced", {"key": "stray-1", "total_cents": 1}))
    await world.send_raw("strays", [body], attributes)
    return body


def test_cli_redrive_exits_1_when_a_message_was_not_moved(world: World, stray: str) -> None:
    args = ("dlq", "redrive", "strays", "-t", str(world.path), "-e", world.env, "--yes")
    result = cli(*args, "--reason", "rejected")
    assert result.exit_code == 1, result.output
    assert "Redrove 0 of 1 messages" in result.stdout
    assert "its source queue nowhere-at-all does not exist: use --to" in result.stderr
    assert "Redrive incomplete: 1 not sent." in result.stderr
    shown = cli("dlq", "show", "strays", "-t", str(world.path), "-e", world.env, "--json")
    assert [r["body"] for r in json.loads(shown.stdout)] == [stray]  # still there
    # strays holds dead letters but is no queue's DLQ: purging it takes --any-queue
    refused = cli("dlq", "purge", *args[2:], "--reason", "rejected")
    assert isinstance(refused.exception, ConfigError), refused.output  # bus.cli.main: exit 3
    assert "is not a dead-letter queue" in str(refused.exception)
    purged = cli("dlq", "purge", *args[2:], "--reason", "rejected", "--any-queue")
    assert purged.exit_code == 0, purged.output
    assert "Deleted 1 of 1 messages" in purged.stdout


def test_cli_redrive_of_a_shared_dlq_falls_back_to_copying(world: World) -> None:
    args = ("dlq", "redrive", "shared-dlq", "-t", str(world.path), "-e", world.env, "--yes")
    result = cli(*args, "--reason", "unknown-event")
    assert result.exit_code == 0, result.output
    assert "Redrove 2 of" in result.stdout
