"""The embedded emulator's setups side by side, in one run: start time, resident memory and SQS
throughput (SendMessageBatch, then ReceiveMessage(10) + DeleteMessageBatch, ``--concurrency``
loops each), as ratios against LocalStack started as bus started it before the loopback fix
(``python -m localstack.runtime.main``, listening on 0.0.0.0).

Setups: ``before`` (that baseline), ``localstack`` (bus's launcher: loopback only), ``ministack``
(``--backend ministack``). Rounds alternate the setups so that a busy machine weighs on each alike.

    python -m bench.emulator [--messages 2000] [--concurrency 8] [--rounds 2] [--only a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiobotocore.session import AioSession

from bus import emulator
from bus.emulator import sockets
from bus.emulator.backends import BACKENDS, Backend

BATCH = 10


# LocalStack as bus ran it before: its own main module, which binds 0.0.0.0.
_UNFIXED = replace(BACKENDS["localstack"], args=("-m", "localstack.runtime.main"))

SQS_ETC = ("sqs", "sns", "events", "sts", "s3")
SETUPS: dict[str, tuple[Backend, tuple[str, ...]]] = {
    "before": (_UNFIXED, SQS_ETC),
    "localstack": (BACKENDS["localstack"], SQS_ETC),
    "ministack": (BACKENDS["ministack"], SQS_ETC),
}


@dataclass
class Figures:
    start_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    send_rate: list[float] = field(default_factory=list)
    receive_rate: list[float] = field(default_factory=list)
    listens: set[str] = field(default_factory=set)


def _rss_mb(pid: int) -> float:
    total = 0
    for each in sockets.descendants(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def _rates(endpoint: str, messages: int, concurrency: int) -> tuple[float, float]:
    session = AioSession()
    async with session.create_client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as sqs:
        url = (await sqs.create_queue(QueueName=f"bench-{time.monotonic_ns()}"))["QueueUrl"]
        batches = [list(range(i, min(i + BATCH, messages))) for i in range(0, messages, BATCH)]
        todo = asyncio.Queue[list[int]]()
        for batch in batches:
            todo.put_nowait(batch)

        async def send() -> None:
            while not todo.empty():
                batch = todo.get_nowait()
                entries = [{"Id": str(n), "MessageBody": f'{{"n": {n}}}'} for n in batch]
                answer = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
                assert not answer.get("Failed"), answer["Failed"]

        began = time.perf_counter()
        await asyncio.gather(*(send() for _ in range(concurrency)))
        send_rate = messages / (time.perf_counter() - began)

        seen: set[str] = set()

        async def receive() -> None:
            while len(seen) < messages:
                answer = await sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=1
                )
                got: list[Any] = answer.get("Messages", [])
                if not got:
                    continue
                seen.update(m["Body"] for m in got)
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ]
                await sqs.delete_message_batch(QueueUrl=url, Entries=entries)

        began = time.perf_counter()
        await asyncio.gather(*(receive() for _ in range(concurrency)))
        receive_rate = messages / (time.perf_counter() - began)
        await sqs.delete_queue(QueueUrl=url)
    return send_rate, receive_rate


def _measure(name: str, figures: Figures, messages: int, concurrency: int) -> None:
    kind, services = SETUPS[name]
    state = Path(tempfile.mkdtemp(prefix=f"bench-emulator-{name}-"))
    kind.runtime.install(lambda line: print(f"   ({line})", flush=True))
    began = time.perf_counter()
    instance = emulator._launch(kind, services, emulator.free_port(), state, False, print)
    try:
        emulator._wait_healthy([instance], 120)
        figures.start_s.append(time.perf_counter() - began)
        figures.listens.update(f"{s.host}:{s.port}" for s in sockets.listeners(instance.pid))
        send, receive = asyncio.run(_rates(instance.endpoint, messages, concurrency))
        figures.send_rate.append(send)
        figures.receive_rate.append(receive)
        figures.rss_mb.append(_rss_mb(instance.pid))
    finally:
        emulator.stop(instance)


def _row(name: str, figures: Figures, base: Figures) -> str:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    def ratio(pick: Callable[[Figures], list[float]]) -> str:
        return f"{med(pick(figures)) / med(pick(base)):.2f}x"

    return (
        f"   {name:<11} start {med(figures.start_s):5.1f} s ({ratio(lambda f: f.start_s)})"
        f"  rss {med(figures.rss_mb):5.0f} MB ({ratio(lambda f: f.rss_mb)})"
        f"  send {med(figures.send_rate):6.0f} msg/s ({ratio(lambda f: f.send_rate)})"
        f"  receive+delete {med(figures.receive_rate):6.0f} msg/s "
        f"({ratio(lambda f: f.receive_rate)})  listens {', '.join(sorted(figures.listens))}"
        f"\n      (each round: send {_each(figures.send_rate)}; receive {_each(figures.receive_rate)})"
    )


def _each(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=",".join(SETUPS))
    args = parser.parse_args()
    names = ["before", *[n for n in args.only.split(",") if n != "before"]]
    results = {name: Figures() for name in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            print(f"[bench] emulator round {round_ + 1}: {name}", flush=True)
            _measure(name, results[name], args.messages, args.concurrency)
    print(
        f"emulator setups, {args.messages} messages, {args.concurrency} loops, "
        f"median of {args.rounds} rounds (ratio to 'before'):"
    )
    for name in names:
        print(_row(name, results[name], results["before"]))


if __name__ == "__main__":
    main()
