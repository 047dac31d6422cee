"""The loop watchdog's cost: a worker's CPU per message with ``blocked_after`` on (1 s, as
``bus worker`` runs it) and off, in one process, printed as a ratio (no assertions).

The same N ``OrderPlaced`` messages (12 lines each, about 1 KiB) are put on the in-memory AWS's
queue (``bus.memory``, on the real clock: no network, so nothing but the worker's own CPU is
measured) and consumed by a worker with a no-op handler, from after its start until the last is
handled (not its stop, which may wait out a long poll); the process's CPU time (every thread's:
the watchdog's included) and wall time per message.
Rounds alternate on and off; the best (lowest) of each is compared, and every round's figure
printed.

Then what lets the warning name the message whose handler blocks: the worker makes each
message's task by the loop's ``create_task`` with its name (``bus.worker.message.handling``),
against ``asyncio.create_task`` unnamed (which names it ``Task-<n>`` itself on Python 3.11): the
time to create one, best of ``TASK_ROUNDS`` batches of 1,000, in alternation.

    .venv/bin/python -m bench.watchdog [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import structlog

from bench.worker import _order, _topology
from bus.memory import MemoryAws
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.topology.apply import converge
from bus.topology.model import Topology
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts
from bus.worker.message import handling

ROOT = Path(__file__).resolve().parents[1]
ENV = "bench"
LOOPS = 4
"""Pollers (each receiving 10 at a time), as ``bench.worker``'s default."""
TASK_ROUNDS = 30


async def _round(
    topology: Topology, registry: Registry, count: int, on: bool
) -> tuple[float, float]:
    """CPU and wall microseconds per message of one worker run over ``count`` fresh messages."""
    async with MemoryAws() as aws:
        await converge(aws, topology, ENV)
        await Publisher(aws, registry, topology, ENV).publish_many(_order(n) for n in range(count))
        options = WorkerOptions(wait_seconds=1, blocked_after=1.0 if on else None)
        parts = WorkerParts(registry=registry, stats=Stats())
        worker = Worker(aws, topology, env=ENV, base_dir=ROOT, options=options, parts=parts)
        queue = worker.stats.queue("orders")
        await worker.start()
        assert worker.watchdog.running is on
        t0, c0 = time.perf_counter(), time.process_time()
        while queue.processed < count:  # noqa: ASYNC110 - as bench.worker waits
            await asyncio.sleep(0.01)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        await worker.stop()  # not counted: it may wait out a long poll (1 s)
    return cpu / count * 1e6, wall / count * 1e6


async def main(count: int, rounds: int) -> None:
    topology = _topology("bench.worker:noop", LOOPS)
    registry = Registry.from_topology(topology, ROOT)
    await _round(topology, registry, min(count, 500), True)  # warm: imports, caches
    cpu: dict[bool, list[float]] = {True: [], False: []}
    wall: dict[bool, list[float]] = {True: [], False: []}
    for n in range(rounds * 2):
        on = n % 2 == (n // 2) % 2  # on, off, off, on, on, off, ...
        c, w = await _round(topology, registry, count, on)
        cpu[on].append(c)
        wall[on].append(w)
    print(f"loop watchdog cost: {count} messages per round, {rounds} rounds each, in-memory AWS")
    for on in (False, True):
        label = "on (1 s)" if on else "off     "
        by_round = " ".join(f"{c:.1f}/{w:.0f}" for c, w in zip(cpu[on], wall[on], strict=True))
        print(f"   {label}  CPU {min(cpu[on]):6.1f} us/msg  wall {min(wall[on]):6.1f} us/msg"
              f"   (CPU/wall by round: {by_round})")  # fmt: skip
    ratio = min(cpu[True]) / min(cpu[False])
    wall_ratio = min(wall[True]) / min(wall[False])
    print(f"   on / off  CPU {ratio:.3f}x (best of each), wall {wall_ratio:.3f}x")
    await naming()


async def _nothing() -> None:
    return None


async def naming() -> None:
    """A message's task made as the worker makes it (named) against ``asyncio.create_task``."""
    loop = asyncio.get_running_loop()
    ids = [f"0f1c2d3e-{n:04d}-4abc-9def-0123456789ab" for n in range(1000)]
    made: dict[str, list[float]] = {"unnamed": [], "named": []}
    for _ in range(TASK_ROUNDS):
        for kind in made:
            started = time.perf_counter()
            if kind == "named":
                tasks = [loop.create_task(_nothing(), name=handling(i)) for i in ids]
            else:
                tasks = [asyncio.create_task(_nothing()) for _ in ids]
            made[kind].append((time.perf_counter() - started) / len(ids) * 1e9)
            await asyncio.gather(*tasks)
    unnamed, named = min(made["unnamed"]), min(made["named"])
    print("a message's task, made (best of each)")
    print(f"   asyncio.create_task(coro)                     {unnamed:6.0f} ns")
    print(
        f"   loop.create_task(coro, name=handling(id))     {named:6.0f} ns   {named / unnamed:.2f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings
    asyncio.run(main(args.messages, args.rounds))
