"""What the in-memory services share: the account, the clock, and ids."""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bus.clock import monotonic
from bus.memory.faults import Faults

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
_HEX4 = [f"{n:04x}" for n in range(65536)]


def _id_stream(prefix: str, start: int) -> Iterator[str]:
    """``prefix`` and a 48-bit counter from ``start`` (wrapping), as 12 hex digits: the counter's
    high 32 bits formatted once per 65,536 ids, the low 16 looked up."""
    n = start & (2**48 - 1)
    while True:
        head = f"{prefix}{n >> 16:08x}"
        for low in _HEX4[n & 0xFFFF :]:
            yield head + low
        n = ((n | 0xFFFF) + 1) & (2**48 - 1)


class _Ids:
    """Version-4 UUIDs, unique in this process: 74 random bits drawn once per process (again in a
    forked child), then a 48-bit counter."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        bits = random.SystemRandom().getrandbits(74)
        h = f"{bits & (2**72 - 1):018x}"
        prefix = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{'89ab'[bits >> 72]}{h[15:]}-"
        self.stream = _id_stream(prefix, random.SystemRandom().getrandbits(32))


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reseed)


def new_id() -> str:
    """A version-4 UUID, as text, never repeated in this process (a random prefix and a
    counter: about 30x cheaper than ``str(uuid.uuid4())``)."""
    return next(_IDS.stream)


class Clock:
    """Loop time (virtual under ``virtual_time``), and epoch timestamps that follow it."""

    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None
        self._last = 0.0
        self._second = -1
        self._prefix = ""

    def now(self) -> float:
        """The running loop's time (seconds, monotonic): ``bus.clock.monotonic``."""
        return monotonic()

    def epoch(self, now: float | None = None) -> float:
        """Seconds since the epoch: real time when first asked, then advancing with ``now``."""
        now = self.now() if now is None else now
        if self._anchor is None:
            self._anchor = (time.time(), now)
        wall, at = self._anchor
        self._last = max(self._last, wall + now - at)
        return self._last

    def epoch_ms(self, now: float | None = None) -> int:
        return int(self.epoch(now) * 1000)

    def iso(self, now: float | None = None, *, millis: bool = True) -> str:
        """``2026-12-02T17:42:18.123Z`` (SNS) or, without ``millis``, ``...18Z`` (EventBridge)."""
        epoch = self.epoch(now)
        second = int(epoch)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if millis:
            return f"{self._prefix}.{int((epoch - second) * 1000):03d}Z"
        return f"{self._prefix}Z"


@dataclass
class World:
    """One in-memory AWS account in one region."""

    account_id: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION
    partition: str = "aws"
    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    """Fault injection and the call journal (``bus.memory.faults``)."""
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def sequence_number(self) -> str:
        """A FIFO sequence number: 20 digits, increasing."""
        return f"{next(self._sequence) + 10**19:020d}"

    new_id = staticmethod(new_id)
