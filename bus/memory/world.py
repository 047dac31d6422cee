"""What the in-memory services share: the account, the clock, and ids."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


class Clock:
    """Loop time (virtual under ``virtual_time``), and epoch timestamps that follow it."""

    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None
        self._last = 0.0

    def now(self) -> float:
        """The running loop's time (seconds, monotonic)."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def epoch(self) -> float:
        """Seconds since the epoch: real time when first asked, then advancing with ``now``."""
        now = self.now()
        if self._anchor is None:
            self._anchor = (time.time(), now)
        wall, at = self._anchor
        self._last = max(self._last, wall + now - at)
        return self._last

    def epoch_ms(self) -> int:
        return int(self.epoch() * 1000)

    def iso(self, *, millis: bool = True) -> str:
        """``2026-12-02T17:42:18.123Z`` (SNS) or, without ``millis``, ``...18Z`` (EventBridge)."""
        moment = datetime.fromtimestamp(self.epoch(), UTC)
        if millis:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class World:
    """One in-memory AWS account in one region."""

    account_id: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION
    partition: str = "aws"
    clock: Clock = field(default_factory=Clock)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def sequence_number(self) -> str:
        """A FIFO sequence number: 20 digits, increasing."""
        return f"{next(self._sequence) + 10**19:020d}"

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())
