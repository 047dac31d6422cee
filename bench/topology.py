"""Topology benchmark: a no-change plan with concurrent reads against the same reads one at a time.

Generates a topology of 100 queues (each with its derived dead-letter queue: 200 queues), 20 topics,
100 subscriptions (queue i on topic i % 20, each with a filter policy) and 10 rules on one custom
bus (each with an SQS target), applies it from empty, then times, alternately over a few rounds:

- ``bus plan`` as the command runs it: ``make_plan`` (``observe`` with at most
  ``DEFAULT_CONCURRENCY`` calls in flight, then the pure ``plan``);
- the same reads done one by one: ``observe(..., limit=1)`` (one call in flight at any time), then
  ``plan``.

Both find nothing to do. It prints the median time of each (min-max), the CPU time of this process
and of the emulator it started, the number of API calls one plan makes (counted on the clients, the
same for both), and their ratio. Against an emulator on the same machine a call costs CPU, not
waiting, so the same comparison is then repeated with a delay added before every call (a simulated
network round trip, ``--latency-ms``, at most 3 rounds). At the end it deletes what it created
(a pruning apply of an empty topology).

Before that, without AWS, it shows that loading, validating and resolving a topology is linear in
its size: it writes topology files of 1,000 and 10,000 queues (a tenth with a declared shared DLQ,
the others with derived ones; one subscription per queue with a filter policy, a rule per ten
queues, an event type per ten queues, a handler per two), times ``inspect_topology`` (YAML, model,
every check) and ``desired_resources`` on each (best of a few runs), and prints the time per queue
at 10,000 against 1,000 queues: about 1x when linear, about 10x when some step is quadratic (as
``dead_letter_of`` was, rebuilding a set of every declared DLQ at each call). Then the same
10,000 queues with 5,000 subscriptions naming a misspelt queue, against none: each broken
reference is reported, and only the first few get a "did you mean" (difflib against every queue).

    .venv/bin/python -m bench.topology [--rounds R] [--latency-ms MS] [--validate-only]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set or ``--validate-only``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bench.emulated import aws_settings
from bus.aws import AwsClients
from bus.aws.clients import Account
from bus.settings import Settings
from bus.topology.apply import converge, make_plan
from bus.topology.load import inspect_topology
from bus.topology.model import Topology, ownership_tags
from bus.topology.observe import DEFAULT_CONCURRENCY, Scope, observe
from bus.topology.plan import Create, Plan, plan
from bus.topology.resolve import desired_resources

QUEUES, TOPICS, RULES = 100, 20, 10
NAME = "benchtopo"


def generated() -> Topology:
    """100 queues with derived DLQs, 20 topics, 100 subscriptions, 10 rules with SQS targets."""
    queues = {f"q{i:03d}": {"dead_letter": {"max_receive_count": 3}} for i in range(QUEUES)}
    subscriptions = [
        {
            "topic": f"t{i % TOPICS:02d}",
            "queue": f"q{i:03d}",
            "raw_message_delivery": True,
            "filter_policy": {"event_type": [f"E{i}"]},
        }
        for i in range(QUEUES)
    ]
    rules = {
        f"r{j}": {
            "bus": "bench",
            "event_pattern": {"source": ["bench"], "detail-type": [f"E{j}"]},
            "targets": [{"queue": f"q{j * (QUEUES // RULES):03d}"}],
        }
        for j in range(RULES)
    }
    return Topology.model_validate(
        {
            "name": NAME,
            "topics": {f"t{i:02d}": {} for i in range(TOPICS)},
            "queues": queues,
            "subscriptions": subscriptions,
            "buses": {"bench": {}},
            "rules": rules,
        }
    )


def topology_text(queues: int, broken: int = 0) -> str:
    """A valid topology.yaml of ``queues`` queues (plus their DLQs), see the module's docstring;
    with ``broken``, that many subscriptions name a misspelt queue (``qq7`` for ``q7``)."""
    topics, events = max(1, queues // 50), max(1, queues // 10)
    lines = ["name: scale", "topics:", *(f"  t{i}: {{}}" for i in range(topics))]
    lines += ["buses:", "  b: {}", "events:"]
    lines += [
        f"  E{j}: {{model: 'schemas.m:E{j}', publish_to: [{{topic: t{j % topics}}}]}}"
        for j in range(events)
    ]
    lines += ["handlers:"]
    lines += [
        f"  q{i}: {{events: {{E{i % events}: 'handlers.h:f{i}'}}}}" for i in range(0, queues, 2)
    ]
    lines += ["queues:"]
    for i in range(queues):
        dead_letter = f"queue: shared{i // 100}, " if i % 10 == 9 else ""
        lines.append(f"  q{i}: {{dead_letter: {{{dead_letter}max_receive_count: 5}}}}")
    lines += [f"  shared{k}: {{dead_letter: false}}" for k in range(queues // 100 + 1)]
    lines += ["subscriptions:"]
    lines += [
        f"  - {{topic: t{i % topics}, queue: {'qq' if i < broken else 'q'}{i}, "
        f"filter_policy: {{event_type: [E{i}]}}}}"
        for i in range(queues)
    ]
    lines += ["rules:"]
    lines += [
        f"  r{j}: {{bus: b, event_pattern: {{source: [s], detail-type: [E{j}]}}, "
        f"targets: [{{queue: q{j * 10}}}]}}"
        for j in range(queues // 10)
    ]
    return "\n".join(lines) + "\n"


def seconds_per_queue(queues: int, rounds: int, folder: Path) -> float:
    """Best CPU time (this process's: steadier than wall time on a shared machine) of ``rounds``
    runs of load + validate + resolve, divided by ``queues``."""
    path = folder / f"topology-{queues}.yaml"
    path.write_text(topology_text(queues))
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        topology, problems = inspect_topology(path, env="dev")
        if topology is None:
            raise RuntimeError(f"the generated topology is invalid: {problems[:3]}")
        desired_resources(topology, "dev", Account("123456789012", "eu-west-1"))
        best = min(best, time.process_time() - start)
    print(f"   {queues:>6} queues: {best:6.2f} s CPU   {best / queues * 1000:.3f} ms per queue")
    return best / queues


def broken_seconds(queues: int, broken: int, rounds: int, folder: Path) -> float:
    """Best CPU time of ``rounds`` runs of load + validate of a topology of ``queues`` queues with
    ``broken`` references to undeclared queues (each reported, the first few with a suggestion)."""
    path = folder / f"topology-{queues}-broken-{broken}.yaml"
    path.write_text(topology_text(queues, broken))
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        topology, problems = inspect_topology(path, env="dev")
        if (topology is None) != (broken > 0) or len(problems) < broken:
            raise RuntimeError(f"expected {broken} problems, got {len(problems)}")
        best = min(best, time.process_time() - start)
    return best


def validate_scaling(rounds: int) -> None:
    print("load + validate + resolve (no AWS), best CPU time of runs")
    with tempfile.TemporaryDirectory() as folder:
        small = seconds_per_queue(1_000, rounds, Path(folder))
        large = seconds_per_queue(10_000, max(1, rounds // 3), Path(folder))
        print(f"   ratio per queue 10,000 / 1,000 queues {large / small:6.2f}x  (linear: about 1x)")
        valid = broken_seconds(10_000, 0, max(1, rounds // 3), Path(folder))
        broken = broken_seconds(10_000, 5_000, max(1, rounds // 3), Path(folder))
    print(
        f"   10,000 queues, 5,000 broken references: {broken:6.2f} s CPU against {valid:.2f} s "
        f"with none, ratio {broken / valid:5.2f}x  (bounded suggestions: about 1x)"
    )


class Calls:
    """Counts the API calls the clients make (botocore's ``before-call`` event, once per call) and
    can add a fixed delay before each request is sent (a simulated network round trip)."""

    def __init__(self, aws: AwsClients) -> None:
        self.count = 0
        self.delay = 0.0
        for client in (aws.sqs, aws.sns, aws.events):
            client.meta.events.register("before-call", self._seen)
            client.meta.events.register("before-send", self._wait)

    def _seen(self, **_: Any) -> None:
        self.count += 1

    async def _wait(self, **_: Any) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)


def _cpu_seconds(pid: int | None) -> float:
    """CPU time used so far by process ``pid`` (the emulator), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Runs:
    """Wall time, bus CPU and emulator CPU of each run of one way of planning."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    emulator_cpu: list[float] = field(default_factory=list)
    calls: set[int] = field(default_factory=set)

    def line(self, label: str, emulator_pid: int | None) -> str:
        wall = self.wall
        text = f"   {label:<32} {statistics.median(wall):6.2f} s  ({min(wall):.2f}-{max(wall):.2f})"
        text += f"   CPU: client {statistics.median(self.cpu):.2f} s"
        if emulator_pid is not None:
            text += f", LocalStack {statistics.median(self.emulator_cpu):.2f} s"
        return text


async def one_at_a_time(aws: AwsClients, topology: Topology, env: str) -> Plan:
    """``make_plan`` with observe's limit at 1: the same reads, each awaited before the next."""
    desired = desired_resources(topology, env, await aws.account())
    observed = await observe(aws, desired, Scope(env, ownership_tags(topology, env)), limit=1)
    return plan(desired, observed)


async def measure(
    calls: Calls, runs: Runs, emulator_pid: int | None, run: Callable[[], Awaitable[Plan]]
) -> None:
    before, cpu, emulator_cpu = calls.count, time.process_time(), _cpu_seconds(emulator_pid)
    start = time.perf_counter()
    result = await run()
    runs.wall.append(time.perf_counter() - start)
    runs.cpu.append(time.process_time() - cpu)
    runs.emulator_cpu.append(_cpu_seconds(emulator_pid) - emulator_cpu)
    runs.calls.add(calls.count - before)
    if not result.is_empty:
        raise RuntimeError(f"expected a no-change plan, got:\n{result}")


async def compare(
    aws: AwsClients, calls: Calls, topology: Topology, env: str, rounds: int, pid: int | None
) -> tuple[Runs, Runs]:
    """``bus plan``'s way and one at a time, alternated ``rounds`` times."""
    concurrent, sequential = Runs(), Runs()
    for _ in range(rounds):
        await measure(calls, concurrent, pid, lambda: make_plan(aws, topology, env))
        await measure(calls, sequential, pid, lambda: one_at_a_time(aws, topology, env))
    return concurrent, sequential


def report(title: str, runs: tuple[Runs, Runs], pid: int | None) -> None:
    concurrent, sequential = runs
    counts = sorted(concurrent.calls | sequential.calls)
    shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    ratio = statistics.median(sequential.wall) / statistics.median(concurrent.wall)
    print(f"{title}, median (min-max) of {len(concurrent.wall)}, {shown} API calls per plan")
    print(concurrent.line(f"bus plan ({DEFAULT_CONCURRENCY} calls in flight)", pid))
    print(sequential.line("same reads one at a time", pid))
    print(f"   ratio one at a time / bus plan   {ratio:6.1f}x")


async def run(settings: Settings, rounds: int, latency_ms: float, pid: int | None) -> None:
    topology = generated()
    env = "p" + uuid.uuid4().hex[:6]
    async with AwsClients(settings) as aws:
        calls = Calls(aws)
        start = time.perf_counter()
        applied = await converge(aws, topology, env)
        apply_seconds = time.perf_counter() - start
        local = await compare(aws, calls, topology, env, rounds, pid)
        delayed = None
        if latency_ms > 0:
            calls.delay = latency_ms / 1000
            delayed = await compare(aws, calls, topology, env, min(rounds, 3), pid)
            calls.delay = 0.0
        await converge(aws, Topology(name=NAME), env, prune=True)  # delete what was created
    print(
        f"generated topology: {len(topology.all_queues())} queues ({QUEUES} with derived DLQs), "
        f"{TOPICS} topics, {len(topology.subscriptions)} subscriptions, 1 bus, {RULES} rules "
        "with SQS targets"
    )
    print(f"apply from empty: {apply_seconds:.2f} s ({applied.count(Create)} resources created)")
    report("no-change plan", local, pid)
    if delayed is not None:
        report(f"the same with {latency_ms:g} ms added before each call", delayed, pid)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=20.0,
        help="also time both with this delay before every call (0: skip)",
    )
    parser.add_argument(
        "--validate-only", action="store_true", help="only the validation scaling line (no AWS)"
    )
    args = parser.parse_args(argv)
    print(f"bench.topology  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    validate_scaling(args.rounds)
    if args.validate_only:
        return
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with aws_settings() as (settings, pid):
        asyncio.run(run(settings, args.rounds, args.latency_ms, pid))


if __name__ == "__main__":
    main()
