"""A FIFO DLQ, filled by the worker rejecting ledger entries, redriven selectively in group order.

Each account's 15 entries die in order; a selective redrive of two accounts puts them back on the
FIFO source queue in the same order (more than one receive batch per group), leaves the third
account's entries in the DLQ, and the fixed handler then sees every account's entries in order.
The copies use a deduplication id derived from the DLQ message id: reusing the original one would
make SQS drop them as duplicates of the first delivery, still inside its 5-minute window.

15 messages in a group is more than a scan that keeps them in flight can see (SQS hands out no more
of a group while 10 of it are in flight; the LocalStack this project pins does the same, but its
FIFO emulation has differed from AWS before): the export, purge and dry-run tests hold on both,
by asserting that what was exported plus what was reported unreached is every message, and that
the commands never claim completeness while something was missed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from bus import dlq
from bus.cli import app
from bus.settings import Settings
from tests.dlq import apps
from tests.dlq.world import World, open_world, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: dlqfifo
queues:
  ledger.fifo:
    fifo: true
    visibility_timeout: 5
    dead_letter: {max_receive_count: 10}
events:
  Entry:
    model: tests.dlq.apps:Entry
    publish_to: [{queue: ledger.fifo}]
    message_group_id: account
handlers:
  ledger.fifo:
    concurrency: 10  # the default: several entries of a group in flight, order must hold
    events: {Entry: tests.dlq.apps:handle_entry}
"""
ACCOUNTS = ("acc-1", "acc-2", "acc-3")
PER_ACCOUNT = 15
TOTAL = PER_ACCOUNT * len(ACCOUNTS)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("dlq-fifo")) as w:
        entries = [
            apps.Entry(account=a, n=n, key=f"{a}/{n}") for n in range(PER_ACCOUNT) for a in ACCOUNTS
        ]
        await w.publisher().publish_many(entries, check=True)

        async def dead() -> bool:
            return await w.total("ledger-dlq.fifo") == len(entries)

        async with w.worker("ledger.fifo"):
            await wait_for(dead, within=60)
        yield w


async def test_fifo_peek_shows_the_head_of_each_group_in_order(world: World) -> None:
    letters = await dlq.peek(world.aws, world.name("ledger-dlq.fifo"), limit=None)
    by_group: dict[str, list[int]] = {}
    for letter in letters:
        assert letter.failure.reason == "rejected"
        by_group.setdefault(str(letter.group_id), []).append(int(letter.data["n"]))
    assert set(by_group) == set(ACCOUNTS)
    for numbers in by_group.values():
        assert numbers == list(range(len(numbers))), by_group  # in order, from the first
    assert await world.depth("ledger-dlq.fifo") == (PER_ACCOUNT * len(ACCOUNTS), 0)


async def test_fifo_export_accounts_for_every_message(world: World, tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    report = await dlq.export(world.aws, world.name("ledger-dlq.fifo"), path)
    assert report.exported + report.unreached == TOTAL  # exported, or said to be not reached
    assert report.complete is (report.exported == TOTAL)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == report.exported
    for account in ACCOUNTS:
        numbers = [r["envelope"]["data"]["n"] for r in records if r["group_id"] == account]
        assert numbers == list(range(len(numbers)))  # each group from its first, in order
    assert await world.depth("ledger-dlq.fifo") == (TOTAL, 0)


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_fifo_export_purge_and_dry_run_say_what_they_did_not_reach(
    world: World, tmp_path: Path
) -> None:
    common = ("-t", str(world.path), "-e", world.env)
    path = tmp_path / "ledger.jsonl"
    result = cli("dlq", "export", "ledger-dlq.fifo", "-o", str(path), *common)
    exported = len(path.read_text().splitlines())
    missed = TOTAL - exported
    name = world.name("ledger-dlq.fifo")
    if missed:
        assert result.exit_code == 1, result.output
        assert f"Exported {exported} of {exported} " not in result.stdout
        assert f"about {missed} not reached" in result.stdout
        assert f"about {missed} messages of {name} were not reached" in result.stderr
        assert "FIFO queue" in result.stderr
    else:
        assert result.exit_code == 0, result.output
        assert f"Exported {TOTAL} of {TOTAL} " in result.stdout
    # A purge that selects nothing and a dry run read the queue the same way.
    purge = cli("dlq", "purge", "ledger-dlq.fifo", "--filter", "data.n > 100", "--yes", *common)
    assert purge.exit_code == (1 if missed else 0), purge.output
    assert "Deleted 0 of" in purge.stdout
    dry = cli("dlq", "redrive", "ledger-dlq.fifo", "--type", "Entry", "--dry-run", *common)
    assert dry.exit_code == (1 if missed else 0), dry.output
    if missed:
        assert f"messages of {name} were not reached" in purge.stderr
        assert f"messages of {name} were not reached" in dry.stderr
    show = cli("dlq", "show", "ledger-dlq.fifo", "--filter", "data.n > 100", *common)
    assert show.exit_code == 0, show.output  # show only warns
    assert (f"messages of {name} were not reached" in show.stderr) is bool(missed)


async def test_fifo_redrive_keeps_group_order(world: World) -> None:
    selection = dlq.Selection.build('data.account in ["acc-1", "acc-2"]')
    report = await dlq.redrive_selected(
        world.aws,
        "ledger-dlq.fifo",
        topology=world.topology,
        env=world.env,
        options=dlq.RedriveOptions(selection=selection),
    )
    assert (report.moved, report.failed, report.held_back) == (2 * PER_ACCOUNT, {}, 0)
    assert report.scanned + report.unreached == TOTAL  # acc-3 kept in flight blocks its group
    assert dict(report.destinations) == {world.name("ledger.fifo"): 2 * PER_ACCOUNT}
    assert await world.total("ledger.fifo") == 2 * PER_ACCOUNT
    assert await world.total("ledger-dlq.fifo") == PER_ACCOUNT
    apps.FIXED["ledger"] = True
    try:
        async with world.worker("ledger.fifo"):
            await wait_for(lambda: len(apps.handled("ledger.fifo")) == 2 * PER_ACCOUNT)
    finally:
        apps.FIXED["ledger"] = False
    for account in ("acc-1", "acc-2"):
        seen = [h.data["n"] for h in apps.handled("ledger.fifo") if h.data["account"] == account]
        assert seen == list(range(PER_ACCOUNT))
    left = await dlq.peek(world.aws, world.name("ledger-dlq.fifo"), limit=None)
    assert {d.group_id for d in left} == {"acc-3"}
