"""What the in-memory services share: the account, the clock, and ids."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bus.clock import monotonic
from bus.memory.faults import Faults

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
_random = random.Random()
_UUID4_MASK = ~(0xF000 << 64) & ~(0xC000 << 48) & (2**128 - 1)
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)


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

    @staticmethod
    def new_id() -> str:
        """A random version-4 UUID, as text (about 5x cheaper than ``str(uuid.uuid4())``)."""
        h = f"{_random.getrandbits(128) & _UUID4_MASK | _UUID4_BITS:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
