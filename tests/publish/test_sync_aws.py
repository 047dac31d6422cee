"""SyncPublisher from 8 threads at once (a WSGI app's workers), and in a process forked after it
was made (a pre-forking server), against LocalStack."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

from bus.errors import BusError, EventValidationError
from bus.publish import PublishResult, SyncPublisher
from schemas.orders import OrderPlaced
from tests.publish.conftest import ROOT, Shop, marker

pytestmark = pytest.mark.aws

THREADS = 8
PER_THREAD = 25


def order(order_id: str) -> OrderPlaced:
    return OrderPlaced(order_id=order_id, customer_id="c", total_cents=10, country="NL")


def _worker(publisher: SyncPublisher, ids: list[str]) -> list[PublishResult]:
    results = [publisher.publish(order(i)) for i in ids[:20]]
    results += publisher.publish_many([order(i) for i in ids[20:]], check=True)
    return results


def _scenario(shop: Shop, ids: list[list[str]]) -> list[PublishResult]:
    settings = shop.settings.model_copy(
        update={"env": shop.env, "topology_path": ROOT / "topology.yaml"}
    )
    with SyncPublisher(settings) as publisher:  # loads topology.yaml and its models
        with ThreadPoolExecutor(THREADS) as pool:
            chunks = list(pool.map(lambda chunk: _worker(publisher, chunk), ids))
        bad = OrderPlaced.model_construct(**{**order("x").model_dump(), "country": "nl"})
        with pytest.raises(EventValidationError, match="country"):
            publisher.publish(bad)
    with pytest.raises(BusError, match="closed"):
        publisher.publish(order("late"))
    publisher.close()  # idempotent
    return [r for chunk in chunks for r in chunk]


async def test_sync_publisher_from_eight_threads(shop: Shop) -> None:
    ids = [[marker() for _ in range(PER_THREAD)] for _ in range(THREADS)]
    every = {i for chunk in ids for i in chunk}
    results = await asyncio.to_thread(_scenario, shop, ids)
    assert len(results) == THREADS * PER_THREAD
    assert all(r.ok for r in results)
    assert len({r.event_id for r in results}) == len(results)
    got = await shop.read("billing", lambda r: every <= set(r.messages), within=40)
    assert set(got.messages) & every == every
    duplicates = {i: len(got.messages[i]) for i in every if len(got.messages[i]) != 1}
    assert duplicates == {}


def _forked(shop: Shop, before: str, in_child: list[str], after: str) -> int:
    """A SyncPublisher made and used, then a fork (as a pre-forking server that imported the
    application first): the child publishes ``in_child`` (one call, then a stream), the parent
    ``after``. The child's exit code: 0 when its publishing succeeded."""
    settings = shop.settings.model_copy(
        update={"env": shop.env, "topology_path": ROOT / "topology.yaml"}
    )
    with SyncPublisher(settings) as publisher:
        assert publisher.publish(order(before)).ok  # the parent's connections are open
        pid = os.fork()
        if pid == 0:  # the child: its own loop, thread and clients at its first call
            signal.alarm(60)
            try:
                ok = publisher.publish(order(in_child[0])).ok
                ok &= all(r.ok for r in publisher.publish_many(order(i) for i in in_child[1:]))
                publisher.close()
            except BaseException:
                traceback.print_exc()
                os._exit(2)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert publisher.publish(order(after)).ok  # the parent's publisher still works
    return os.waitstatus_to_exitcode(status)


async def test_sync_publisher_made_before_a_fork_publishes_from_the_child(shop: Shop) -> None:
    before, after = marker(), marker()
    in_child = [marker() for _ in range(3)]
    assert await asyncio.to_thread(_forked, shop, before, in_child, after) == 0
    every = {before, after, *in_child}
    got = await shop.read("billing", lambda r: every <= set(r.messages), within=40)
    assert every <= set(got.messages)


async def test_a_sync_publisher_never_closed_is_closed_at_exit(shop: Shop) -> None:
    """A script that publishes and exits without ``close()``: the publisher is closed at exit
    (``atexit``), so the interpreter does not print aiohttp's "Unclosed client session" and
    "Unclosed connector" for its clients' open connections."""
    order_id = marker()
    script = (
        "from bus import SyncPublisher\n"
        "from schemas.orders import OrderPlaced\n"
        "publisher = SyncPublisher()\n"
        f"event = OrderPlaced(order_id={order_id!r}, customer_id='c', total_cents=10, country='NL')\n"
        "assert publisher.publish(event).ok\n"
    )
    env = {**os.environ, "BUS_ENV": shop.env, "BUS_TOPOLOGY": str(ROOT / "topology.yaml")}
    if shop.settings.endpoint_url:
        env["AWS_ENDPOINT_URL"] = shop.settings.endpoint_url
    if shop.settings.region:
        env["AWS_REGION"] = shop.settings.region
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-W", "default", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr, done.stderr
    got = await shop.read("billing", lambda r: order_id in r.messages, within=40)
    assert order_id in got.messages
