"""What the orchestrator and every runner share: the job, the payload, the tally, the result line.

Standard library only: this module is imported in the project's virtualenv and in the peers' one.
A runner is started as ``python -m bench.compare.<system>_runner '<job json>'``; it prints exactly
one line ``RESULT {json}`` on stdout (everything else goes to stderr).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

RESULT_PREFIX = "RESULT "
PAYLOAD_BYTES = 1024
LINES = 8


@dataclass(frozen=True)
class Job:
    """One measurement for one runner process."""

    system: str
    """``bare``, ``bus``, ``celery`` or ``dramatiq``."""
    action: str
    """``publish``, ``publish-single`` (bus: one event per call), ``publish-same`` (bare: bus's
    message), ``consume``, ``consume-same`` (bare: bus's message, asking what bus asks) or
    ``latency``."""
    messages: int
    concurrency: int
    endpoint: str
    region: str
    queue_name: str
    queue_url: str
    payload_bytes: int = PAYLOAD_BYTES
    wait_seconds: int = 1
    rate: float = 100.0
    """Latency runs: messages per second, sent open-loop."""
    topology: str = ""
    """bus: the path of the benchmark topology (applied by the orchestrator)."""
    env: str = ""
    """bus: the environment prefix of that topology."""
    timeout: float = 300.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Result:
    """What one runner measured: ``messages`` in ``seconds`` of wall time and ``cpu`` seconds."""

    system: str
    action: str
    messages: int
    seconds: float
    cpu: float
    duplicates: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu / self.messages * 1e6 if self.messages else 0.0

    def line(self) -> str:
        return RESULT_PREFIX + json.dumps(asdict(self))

    @classmethod
    def parse(cls, output: str) -> Result:
        """The result in a runner's stdout; ``ValueError`` when there is none."""
        for line in reversed(output.splitlines()):
            if line.startswith(RESULT_PREFIX):
                return cls(**json.loads(line[len(RESULT_PREFIX) :]))
        raise ValueError("the runner printed no RESULT line")


def payload(n: int, size: int = PAYLOAD_BYTES, sent_at: float = 0.0) -> dict[str, Any]:
    """An order-like JSON object of about ``size`` bytes (compact JSON), numbered ``n``."""
    data: dict[str, Any] = {
        "n": n,
        "sent_at": sent_at,
        "order_id": f"o-{n:010d}",
        "customer_id": f"c-{n % 9973:06d}",
        "currency": "EUR",
        "lines": [
            {"sku": f"sku-{(n + i) % 10000:05d}", "quantity": 1 + i, "unit_price_cents": 1999 + i}
            for i in range(LINES)
        ],
        "note": "",
    }
    missing = size - len(json.dumps(data, separators=(",", ":")))
    data["note"] = "x" * max(0, missing)
    return data


class Tally:
    """Counts distinct handled messages; notes when the first and the last one were handled.

    The measured window of a consume run is first handled -> ``target``-th distinct message
    handled, so start-up (connecting, declaring, the first receive) counts for no system.
    Thread-safe: Celery and Dramatiq call it from their worker threads.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen: set[int] = set()
        self.duplicates = 0
        self.first: tuple[float, float] | None = None
        self.last: tuple[float, float] | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def hit(self, n: int) -> None:
        with self._lock:
            if n in self.seen:
                self.duplicates += 1
                return
            self.seen.add(n)
            if self.first is None:
                self.first = (time.perf_counter(), time.process_time())
            if len(self.seen) == self.target:
                self.last = (time.perf_counter(), time.process_time())
                self.done.set()

    def result(self, system: str, action: str, **notes: Any) -> Result:
        """The consume result: ``target - 1`` messages between the first and the last hit."""
        if self.first is None or self.last is None:
            raise RuntimeError(f"only {len(self.seen)} of {self.target} messages were handled")
        return Result(
            system,
            action,
            messages=self.target - 1,
            seconds=self.last[0] - self.first[0],
            cpu=self.last[1] - self.first[1],
            duplicates=self.duplicates,
            notes=notes,
        )


class Stopwatch:
    """Wall and CPU time (this process, every thread) since ``start()``."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def start(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def result(self, system: str, action: str, messages: int, **notes: Any) -> Result:
        return Result(
            system,
            action,
            messages=messages,
            seconds=time.perf_counter() - self.wall,
            cpu=time.process_time() - self.cpu,
            notes=notes,
        )


def shares(numbers: range, parts: int) -> list[range]:
    """``numbers`` (step 1) cut into ``parts`` consecutive slices of nearly equal length."""
    total = len(numbers)
    parts = max(1, min(parts, total)) if total else 1
    size, extra = divmod(total, parts)
    out, start = [], numbers.start
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def timed(messages: int) -> range:
    """The numbers a publish run times: message 0 goes first, untimed, to warm the path up
    (connections, clients, queue URL look-ups); the consumer later sees all ``messages``."""
    return range(1, messages)


def run_main(run: Callable[[Job], Result]) -> None:
    """A runner's entry point: the job from argv, the result line on stdout."""
    job = Job.from_json(sys.argv[1])
    result = run(job)
    sys.stdout.write(result.line() + "\n")
    sys.stdout.flush()
