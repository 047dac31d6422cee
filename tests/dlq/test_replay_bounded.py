"""``bus dlq replay`` on a file of any size: the lines are read one at a time and the validated
messages wait in a temporary file, so memory follows the largest line, not the file; a file full
of invalid lines lists the first ``MAX_PROBLEMS`` and counts the rest; a line too long to be a
record is named and read past; a FIFO group that failed for good is not continued in a later part
of the stream. Control flow on the in-memory AWS (``tests.dlq.memory``)."""

from __future__ import annotations

import importlib
import json
import tracemalloc
from pathlib import Path

import pytest

from bus import dlq
from bus.errors import ReplayError
from bus.memory.faults import entry_failure
from bus.schema.registry import Registry
from bus.topology.load import load_topology
from tests.dlq.memory import Sqs

replay_module = importlib.import_module("bus.dlq.replay")  # the package's `replay` is the function


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    path = tmp_path / "topology.yaml"
    path.write_text("name: raw\nqueues:\n  orders: {}\n")
    return Registry.from_topology(load_topology(path), tmp_path)


def record(n: int, size: int = 100, group: str | None = None) -> str:
    body = f"{n:08d}" + "x" * (size - 8)
    fields = {"envelope": None, "body": body, "message_attributes": {}, "message_id": str(n)}
    return json.dumps({**fields, "group_id": group} if group else fields)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


async def test_memory_follows_the_longest_line_not_the_file(
    registry: Registry, tmp_path: Path
) -> None:
    path = write(tmp_path / "big.jsonl", [record(n, 10_000) for n in range(1_500)])  # 15 MB
    size = path.stat().st_size
    sqs = Sqs()
    target = sqs.queue("orders")
    tracemalloc.start()
    try:
        dry = await dlq.replay(sqs.clients(), path, registry=registry, to=target.url,
                               dry_run=True, raw=True)  # fmt: skip
        _, dry_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        report = await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
        _, send_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (dry.raw, report.sent, report.failed) == (1_500, 1_500, {})
    # what the queue now holds is the bodies (about the file's size); replay itself adds a part
    held = sum(len(m.body) for m in target.messages)
    assert dry_peak < size / 5, (dry_peak, size)
    assert send_peak - held < size / 5, (send_peak, held, size)
    assert [m.body[:8] for m in target.messages] == [f"{n:08d}" for n in range(1_500)]


async def test_many_invalid_lines_list_the_first_and_count_the_rest(
    registry: Registry, tmp_path: Path
) -> None:
    lines = [record(0)] + ["not json"] * 250
    path = write(tmp_path / "bad.jsonl", lines)
    sqs = Sqs()
    target = sqs.queue("orders")
    with pytest.raises(ReplayError) as refused:
        await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    problems = refused.value.problems
    assert len(problems) == replay_module.MAX_PROBLEMS
    assert [p.line for p in problems] == list(range(2, 2 + replay_module.MAX_PROBLEMS))
    assert refused.value.more == 250 - replay_module.MAX_PROBLEMS
    assert str(refused.value).startswith("nothing replayed: 250 invalid messages:")
    assert str(refused.value).endswith("... and 150 more invalid lines not listed")
    assert target.messages == []


async def test_a_line_too_long_is_named_and_read_past(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "MAX_LINE_BYTES", 5_000)
    monkeypatch.setattr(replay_module, "READ_BYTES", 1_000)
    path = write(tmp_path / "long.jsonl", [record(0), record(1, 20_000), record(2)])
    sqs = Sqs()
    target = sqs.queue("orders")
    with pytest.raises(ReplayError) as refused:
        await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    (problem,) = refused.value.problems
    assert str(problem) == (
        f"{path}:2:1: a line of over 5000 bytes: not a record `bus dlq export` writes"
    )
    exact = record(3, 5_000 - len(record(3, 8)) + 8)  # a line of exactly the limit is read
    assert len(exact) == 5_000
    write(path, [record(0), record(1), record(2), exact])  # the lines after it are read as lines
    report = await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    assert report.sent == 4


async def test_a_failed_fifo_group_is_not_continued_in_a_later_part(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "PART", 4)
    sqs = Sqs()
    target = sqs.queue("orders.fifo")
    sqs.aws.faults.fail_entries(  # SQS refuses record 1 (group a) for good
        "SendMessageBatch",
        lambda entry: (
            entry_failure("InvalidParameterValue")
            if entry.entry["MessageBody"].startswith("00000001")
            else None
        ),
    )
    lines = [record(n, group="a" if n % 2 else "b") for n in range(10)]
    path = write(tmp_path / "fifo.jsonl", lines)
    report = await dlq.replay(sqs.clients(), path, registry=registry, to=target.url, raw=True)
    # line 2 (record 1) failed; record 3 (line 4) was in the same call and SQS took it (SendOutcome
    # reports such a group out of order); the rest of group a (records 5, 7, 9: lines 6, 8, 10, in
    # later parts of four) is held back; group b is all sent, in order
    assert report.failed[2].startswith("InvalidParameterValue")
    held = "not sent: an earlier message of its FIFO group failed"
    assert {line: report.failed[line] for line in (6, 8, 10)} == dict.fromkeys((6, 8, 10), held)
    assert len(report.failed) == 4
    assert [m.body[:8] for m in target.messages] == [f"{n:08d}" for n in (0, 2, 3, 4, 6, 8)]
    assert report.sent == 6


async def test_records_for_two_queues_alternating_stay_bounded_and_in_order(tmp_path: Path) -> None:
    """Each destination's messages wait in a spool of their own: a file whose lines alternate
    between two queues costs no more memory than one naming a single queue, and each queue gets
    its messages in file order."""
    path = tmp_path / "topology.yaml"
    path.write_text("name: two\nqueues:\n  a: {dead_letter: false}\n  b: {dead_letter: false}\n")
    topology = load_topology(path)
    registry = Registry.from_topology(topology, tmp_path)
    lines = []
    for n in range(1_500):
        fields = json.loads(record(n, 10_000))
        fields["failure"] = {"queue": "ab"[n % 2]}  # where it failed: its destination
        lines.append(json.dumps(fields))
    replayed = write(tmp_path / "two.jsonl", lines)
    size = replayed.stat().st_size
    sqs = Sqs()
    a, b = sqs.queue("a"), sqs.queue("b")
    tracemalloc.start()
    try:
        report = await dlq.replay(sqs.clients(), replayed, registry=registry, topology=topology,
                                  raw=True)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.sent, report.failed) == (1_500, {})
    held = sum(len(m.body) for m in a.messages + b.messages)
    assert peak - held < size / 5, (peak, held, size)
    assert [m.body[:8] for m in a.messages] == [f"{n:08d}" for n in range(0, 1_500, 2)]
    assert [m.body[:8] for m in b.messages] == [f"{n:08d}" for n in range(1, 1_500, 2)]
