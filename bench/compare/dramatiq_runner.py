"""Dramatiq on dramatiq-sqs, run in the peers' virtualenv.

``SQSBroker(endpoint_url=...)`` passes the emulator's endpoint to boto3; with no namespace the
Dramatiq queue name is the SQS queue name, so the actor's queue is the benchmark queue itself.
Default middleware. Consume: ``dramatiq.Worker`` in this process with ``concurrency`` worker
threads (one consumer thread per queue receives, up to ten messages at a time, and each worker
thread acks its message with DeleteMessage). Publish: ``send()`` from ``concurrency`` threads.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dramatiq
from dramatiq_sqs import SQSBroker

from bench.compare.common import Job, Result, Stopwatch, Tally, payload, run_main, shares, timed

TALLY: Tally | None = None


def make_actor(job: Job) -> tuple[SQSBroker, Any]:
    broker = SQSBroker(
        endpoint_url=job.endpoint,
        region_name=job.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        visibility_timeout=60,
    )
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name=job.queue_name, actor_name="bench_handle", max_retries=0)
    def handle(data: dict[str, Any]) -> None:
        if TALLY is not None:
            TALLY.hit(data["n"])

    return broker, handle


def consume(job: Job) -> Result:
    global TALLY
    TALLY = tally = Tally(job.messages)
    broker, _ = make_actor(job)
    # Consumer timeout: the long-poll wait, in milliseconds (as for every other system).
    worker = dramatiq.Worker(
        broker, worker_threads=job.concurrency, worker_timeout=job.wait_seconds * 1000
    )
    worker.start()
    try:
        if not tally.done.wait(job.timeout):
            raise TimeoutError(f"only {len(tally.seen)} of {job.messages} handled")
    finally:
        worker.stop()
        broker.close()
    return tally.result("dramatiq", "consume")


def publish(job: Job) -> Result:
    broker, actor = make_actor(job)
    bodies = [payload(n, job.payload_bytes) for n in range(job.messages)]
    actor.send(bodies[0])
    numbers = timed(job.messages)

    def send(part: range) -> None:
        for n in part:
            actor.send(bodies[n])

    with ThreadPoolExecutor(job.concurrency) as pool:
        watch = Stopwatch().start()
        for future in [pool.submit(send, part) for part in shares(numbers, job.concurrency)]:
            future.result()
        result = watch.result("dramatiq", "publish", len(numbers))
    broker.close()
    return result


ACTIONS = {"consume": consume, "publish": publish}


def run(job: Job) -> Result:
    action = ACTIONS.get(job.action)
    if action is None:
        raise SystemExit(f"dramatiq: unknown action {job.action!r}")
    logging.basicConfig(level=logging.WARNING)
    return action(job)


if __name__ == "__main__":
    run_main(run)
