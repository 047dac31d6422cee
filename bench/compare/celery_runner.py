"""Celery on its SQS broker (kombu's SQS transport), run in the peers' virtualenv.

The app points kombu at the emulator: ``sqs://<key>:<secret>@host:port`` with ``is_secure: False``
makes kombu's endpoint ``http://host:port``, and ``predefined_queues`` names the benchmark queue's
URL, so kombu neither lists nor creates queues. The task is the no-op handler every system runs.

Consume: a worker in this process, ``pool=threads`` with ``concurrency`` threads (the prefork pool
would put the work in child processes whose CPU this process cannot see as it happens), without
heartbeat, mingle and gossip (SQS has no broadcast). Publish: ``delay()`` from ``concurrency``
threads.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from celery.signals import worker_ready

from bench.compare.common import Job, Result, Stopwatch, Tally, payload, run_main, shares, timed

TALLY: Tally | None = None


def make_app(job: Job) -> Celery:
    endpoint = urlsplit(job.endpoint)
    app = Celery("bench", broker=f"sqs://test:test@{endpoint.hostname}:{endpoint.port}")
    app.conf.update(
        broker_transport_options={
            "region": job.region,
            "is_secure": endpoint.scheme == "https",
            "predefined_queues": {job.queue_name: {"url": job.queue_url}},
            "wait_time_seconds": job.wait_seconds,
            "polling_interval": 0,
            "visibility_timeout": 60,
        },
        broker_connection_retry_on_startup=True,
        task_default_queue=job.queue_name,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )

    @app.task(name="bench.handle")
    def handle(data: dict[str, Any]) -> None:
        if TALLY is not None:
            TALLY.hit(data["n"])

    return app


def consume(job: Job) -> Result:
    global TALLY
    TALLY = tally = Tally(job.messages)
    app = make_app(job)
    ready = threading.Event()
    worker_ready.connect(lambda **_: ready.set(), weak=False)

    def stop_when_done() -> None:
        tally.done.wait(job.timeout)
        os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown

    threading.Thread(target=stop_when_done, daemon=True).start()
    worker = app.Worker(
        pool="threads",
        concurrency=job.concurrency,
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        quiet=True,
    )
    worker.start()
    return tally.result("celery", "consume", ready=ready.is_set())


def publish(job: Job) -> Result:
    app = make_app(job)
    task = app.tasks["bench.handle"]
    bodies = [payload(n, job.payload_bytes) for n in range(job.messages)]
    task.delay(bodies[0])
    numbers = timed(job.messages)

    def send(part: range) -> None:
        for n in part:
            task.delay(bodies[n])

    with ThreadPoolExecutor(job.concurrency) as pool:
        watch = Stopwatch().start()
        for future in [pool.submit(send, part) for part in shares(numbers, job.concurrency)]:
            future.result()
        return watch.result("celery", "publish", len(numbers))


ACTIONS = {"consume": consume, "publish": publish}


def run(job: Job) -> Result:
    action = ACTIONS.get(job.action)
    if action is None:
        raise SystemExit(f"celery: unknown action {job.action!r}")
    logging.basicConfig(level=logging.WARNING)
    return action(job)


if __name__ == "__main__":
    run_main(run)
