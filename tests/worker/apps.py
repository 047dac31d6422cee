"""Event models and handlers the worker tests bind in their topologies (``tests.worker.apps:...``).

Handlers record what they saw in ``CALLS`` (in-process tests) and, when ``BUS_TEST_RECORD`` names a
file, append one JSON line per finished call to it (subprocess tests); with ``BUS_TEST_STARTED``
naming a folder, ``record`` drops ``<key>.started`` there when it starts. ``Ping.behaviour`` steers
them: ``ok``, ``transient-once``, ``fail-once``, ``fail``, ``reject``, ``retry-once``,
``slow:<seconds>``, ``block`` (runs until killed), ``random-10`` (fails 10% of calls).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from bus.control import Reject, Retry
from bus.worker import Context
from schemas.orders import OrderPlaced


class Ping(BaseModel):
    key: str
    behaviour: str = "ok"
    n: int = 0


class DirectPing(Ping):
    pass


class SlowPing(Ping):
    pass


class OncePing(Ping):
    pass


class GroupPing(Ping):
    group: str = "g"


class Pong(BaseModel):
    key: str


class Unbound(BaseModel):
    key: str


class Seq(BaseModel):
    group: str
    n: int = Field(ge=0)
    key: str


class Transient(Exception):
    """Declared transient in the test topologies' retry policies."""


class Permanent(Exception):
    pass


@dataclass(frozen=True)
class Call:
    queue: str
    key: str
    event_id: str
    attempt: int
    try_number: int
    correlation_id: str | None
    causation_id: str | None
    traceparent: str | None
    started: float
    finished: float


CALLS: list[Call] = []
TRIES: Counter[str] = Counter()
RUNNING: Counter[str] = Counter()
PEAK: Counter[str] = Counter()
PEAK_TOTAL = [0]
STARTS: dict[str, list[float]] = {}
"""When each try of a key started (monotonic), failed ones included."""


def calls(key: str) -> list[Call]:
    return [c for c in CALLS if c.key == key]


def keys_handled(prefix: str) -> set[str]:
    return {c.key for c in CALLS if c.key.startswith(prefix)}


def _record(call: Call) -> None:
    CALLS.append(call)
    path = os.environ.get("BUS_TEST_RECORD")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps(call.__dict__) + "\n")


def _mark(path: str, text: str) -> None:
    Path(path).write_text(text)


async def _behave(behaviour: str, key: str, ctx: Context) -> None:
    TRIES[key] += 1
    tries = TRIES[key]
    if behaviour == "transient-once" and tries == 1:
        raise Transient(f"{key}: first try fails")
    if behaviour == "fail-once" and ctx.attempt == 1:
        raise Permanent(f"{key}: first delivery fails")
    if behaviour == "retry-once" and ctx.attempt == 1:
        raise Retry(delay=0, reason="not yet")
    if behaviour == "fail":
        raise Permanent(f"{key}: always fails")
    if behaviour == "reject":
        raise Reject(f"{key}: rejected on purpose")
    if behaviour == "random-10" and random.random() < 0.1:
        raise Permanent(f"{key}: unlucky")
    if behaviour.startswith("slow:"):
        await asyncio.sleep(float(behaviour.split(":", 1)[1]))
    if behaviour == "block":
        marker = os.environ.get("BUS_TEST_BLOCK_MARKER")
        if marker:
            _mark(marker, ctx.message_id)
            await asyncio.sleep(3600)


async def record(event: Ping, ctx: Context) -> None:
    """Run ``event.behaviour`` and record the call once it succeeded."""
    started = time.monotonic()
    STARTS.setdefault(event.key, []).append(started)
    folder = os.environ.get("BUS_TEST_STARTED")
    if folder:
        _mark(str(Path(folder) / f"{event.key}.started"), ctx.message_id)
    RUNNING[ctx.queue] += 1
    PEAK[ctx.queue] = max(PEAK[ctx.queue], RUNNING[ctx.queue])
    PEAK_TOTAL[0] = max(PEAK_TOTAL[0], sum(RUNNING.values()))
    try:
        await _behave(event.behaviour, event.key, ctx)
    finally:
        RUNNING[ctx.queue] -= 1
    env = ctx.envelope
    _record(
        Call(
            ctx.queue,
            event.key,
            env.id,
            ctx.attempt,
            ctx.try_number,
            env.correlation_id,
            env.causation_id,
            env.traceparent,
            started,
            time.monotonic(),
        )
    )


async def record_event_only(event: Pong) -> None:
    """A handler without a context."""
    _record(Call("-", event.key, "", 0, 0, None, None, None, 0.0, time.monotonic()))


async def echo_pong(event: Ping, ctx: Context) -> None:
    """Publishes a Pong in the same flow, then records the Ping."""
    await ctx.publisher.publish(Pong(key=f"pong-{event.key}"))
    await record(event, ctx)


async def record_pong(event: Pong, ctx: Context) -> None:
    env = ctx.envelope
    now = time.monotonic()
    _record(
        Call(
            ctx.queue,
            event.key,
            env.id,
            ctx.attempt,
            ctx.try_number,
            env.correlation_id,
            env.causation_id,
            env.traceparent,
            now,
            now,
        )
    )


SEQUENCE: dict[str, list[int]] = {}
GROUPS_RUNNING: set[str] = set()
GROUPS_PEAK = [0]
OVERLAPS: list[str] = []
"""Keys whose handler started while another message of their group was running."""
SEQ_STARTED: list[str] = []


async def apply_seq(event: Seq, ctx: Context) -> None:
    """FIFO: records each group's order and any overlap within a group. The key's last character
    steers it: ``!`` fails on the first try, ``x`` rejects, ``~`` always fails, ``@`` takes 1.5 s."""
    if event.group in GROUPS_RUNNING:
        OVERLAPS.append(event.key)
    GROUPS_RUNNING.add(event.group)
    GROUPS_PEAK[0] = max(GROUPS_PEAK[0], len(GROUPS_RUNNING))
    SEQ_STARTED.append(event.key)
    try:
        await asyncio.sleep(1.5 if event.key.endswith("@") else random.uniform(0, 0.02))
        TRIES[event.key] += 1
        if event.key.endswith("!") and TRIES[event.key] == 1:
            raise Permanent(f"{event.key}: first delivery fails")
        if event.key.endswith("x"):
            raise Reject(f"{event.key}: rejected")
        if event.key.endswith("~"):
            raise Permanent(f"{event.key}: always fails")
        SEQUENCE.setdefault(event.group, []).append(event.n)
    finally:
        GROUPS_RUNNING.discard(event.group)


def not_async(event: Ping) -> None:
    """Bound by a test that expects a HandlerError."""


async def too_many(event: Ping, ctx: Context, extra: int) -> None:
    """Bound by a test that expects a HandlerError."""


async def wrong_annotation(event: Pong) -> None:
    """Bound to Ping by a test that expects a HandlerError."""


ORDERS: list[tuple[int, OrderPlaced]] = []
"""(the envelope's version, the model the handler got) for each ``record_order`` call."""


async def record_order(event: OrderPlaced, ctx: Context) -> None:
    """Bound to OrderPlaced (version 2, version 1 upcast) by the upcasting test."""
    ORDERS.append((ctx.envelope.version, event))
