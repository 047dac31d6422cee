"""The comparison, start to finish: ``python -m bench.compare [--quick] [--no-docs] ...``.

1. start an embedded LocalStack of its own; build the peers' virtualenv if needed;
2. repeat ``repetitions`` times, in a rotating order of systems: each system publishes
   ``messages`` messages (measured) into a fresh queue, then consumes them (measured); bus also
   publishes one event per call into another fresh queue; bus and the bare loop measure latency;
3. print the tables (median, min-max, ratio to the bare loop) and the targets; save every figure
   under ``.bus/bench/``; with ``--docs`` (the default of a full run) rewrite the results section
   of ``docs/benchmarks.md`` and ``docs/benchmarks.png``.

Every queue is created by applying the benchmark topology (``bus_app``) under its own environment
prefix, so all systems get identical queues and no run ever sees another's messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.compare import bus_app, docs, peers, report
from bench.compare.common import Job, Result
from bench.compare.machine import machine, versions
from bench.compare.queues import Queues
from bus import emulator

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / ".bus" / "bench"
SYSTEMS = ("bare", "bus", "celery", "dramatiq")
PEERS = ("celery", "dramatiq")
MODULES = {
    "bare": "bench.compare.bare",
    "bus": "bench.compare.bus_runner",
    "celery": "bench.compare.celery_runner",
    "dramatiq": "bench.compare.dramatiq_runner",
}
STEPS = {
    "bare": ("publish", "consume", "publish-same", "consume-same"),
    "bus": ("publish", "consume", "publish-single", "middleware"),
    "celery": ("publish", "consume"),
    "dramatiq": ("publish", "consume"),
}


@dataclass(frozen=True)
class Config:
    messages: int = 3000
    repetitions: int = 3
    concurrency: int = 8
    payload_bytes: int = 1024
    latency_messages: int = 500
    latency_rate: float = 100.0
    systems: tuple[str, ...] = SYSTEMS


QUICK = Config(messages=1000, latency_messages=200)


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


class StepFailed(Exception):
    pass


class Bench:
    """One run: the emulator, the queues, the interpreters, and what was measured."""

    def __init__(
        self, config: Config, instance: emulator.EmulatorInstance, peers_python: Path | None
    ) -> None:
        self.config = config
        self.instance = instance
        self.peers_python = peers_python
        self.env = {**os.environ, **instance.env()}
        self.work = Path(tempfile.mkdtemp(prefix="bus-bench-"))
        self.topology = self.work / "topology.yaml"
        self.topology.write_text(bus_app.topology_text(config.concurrency))
        self.queues = Queues(instance.endpoint, instance.region, self.topology)
        self.results: list[Result] = []
        self.loads: list[float] = []
        """The 1-minute load average at the start of each round (the machine may be shared)."""
        self.failures: dict[report.Key, str] = {}

    def python(self, system: str) -> Path:
        if system in PEERS and self.peers_python is not None:
            return self.peers_python
        return Path(sys.executable)

    def job(self, system: str, action: str, prefix: str, url: str) -> Job:
        c = self.config
        latency = action.startswith("latency")
        return Job(
            system=system,
            action=action,
            messages=c.latency_messages if latency else c.messages,
            concurrency=c.concurrency,
            endpoint=self.instance.endpoint,
            region=self.instance.region,
            queue_name=f"{prefix}-{bus_app.QUEUE}",
            queue_url=url,
            payload_bytes=c.payload_bytes,
            rate=c.latency_rate,
            topology=str(self.topology),
            env=prefix,
        )

    def measure(self, job: Job) -> Result:
        command = [str(self.python(job.system)), "-m", MODULES[job.system], job.to_json()]
        try:
            proc = subprocess.run(
                command, cwd=ROOT, env=self.env, capture_output=True, text=True,
                timeout=job.timeout + 60, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"timed out after {exc.timeout:.0f}s") from exc
        (self.work / f"{job.env}-{job.action}.log").write_text(proc.stderr)
        if proc.returncode != 0:
            raise StepFailed(_last_error(proc.stderr) or f"exit code {proc.returncode}")
        return Result.parse(proc.stdout)

    def step(self, system: str, action: str, prefix: str, url: str) -> Result | None:
        key = (system, action)
        try:
            result = self.measure(self.job(system, action, prefix, url))
        except (StepFailed, ValueError) as exc:
            self.failures.setdefault(key, str(exc))
            log(f"{system} {action}: FAILED: {exc}")
            return None
        self.results.append(result)
        log(f"{system} {action}: {_describe(result)}")
        return result

    async def system_round(self, system: str, round_no: int) -> None:
        prefix = f"r{round_no}-{system}"
        url = await self.queues.create(prefix)
        published = await self.published(system, "publish", prefix, url)
        if published:
            await self.consumed(system, "consume", prefix, url)
        if "publish-same" in STEPS[system]:  # bus's message, sent by the bare loop
            same = f"r{round_no}-{system}-s"
            same_url = await self.queues.create(same)
            if await self.published(system, "publish-same", same, same_url):
                await self.consumed(system, "consume-same", same, same_url)
        if "publish-single" in STEPS[system]:
            single = f"r{round_no}-{system}-1"
            await self.published(system, "publish-single", single, await self.queues.create(single))
        if "middleware" in STEPS[system]:  # no queue used: the in-process path alone
            self.step(system, "middleware", prefix, url)

    async def consumed(self, system: str, action: str, prefix: str, url: str) -> None:
        """Consume (measured), then check that the queue is empty."""
        if self.step(system, action, prefix, url) is None:
            return
        left = await self.queues.depth(url)
        if left:
            log(f"{system} {action}: {left} messages left on the queue afterwards")
            self.note(left=left)

    async def published(self, system: str, action: str, prefix: str, url: str) -> bool:
        """Publish (measured), then check that the queue holds every message."""
        if self.step(system, action, prefix, url) is None:
            return False
        found = await self.queues.count(url, self.config.messages)
        if found != self.config.messages:
            log(f"{system} {action}: {found} messages on the queue, {self.config.messages} sent")
            self.note(on_queue=found)
        return True

    def note(self, **notes: Any) -> None:
        """Add notes to the last result (shown with the figures in the saved record)."""
        last = self.results[-1]
        self.results[-1] = replace(last, notes={**last.notes, **notes})

    async def latency_round(self, round_no: int) -> None:
        for action, tag in (("latency-serial", "ls"), ("latency", "lo")):
            for system in [s for s in ("bare", "bus") if s in self.config.systems]:
                prefix = f"r{round_no}-{system}-{tag}"
                self.step(system, action, prefix, await self.queues.create(prefix))

    async def run(self) -> None:
        systems = [s for s in self.config.systems if s not in PEERS or self.peers_python]
        async with self.queues:
            for r in range(self.config.repetitions):
                self.loads.append(round(os.getloadavg()[0], 2))
                log(f"round {r + 1} of {self.config.repetitions} (load average {self.loads[-1]})")
                for system in rotate(systems, r):
                    await self.system_round(system, r + 1)
                await self.latency_round(r + 1)


def rotate(items: Sequence[str], by: int) -> list[str]:
    """``items`` starting at position ``by`` (mod their number): each round starts elsewhere."""
    if not items:
        return []
    by %= len(items)
    return [*items[by:], *items[:by]]


def _last_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _describe(r: Result) -> str:
    if "per_middleware_us" in r.notes:
        return (
            f"{r.notes['per_middleware_us']:.2f} us CPU/msg per no-op middleware "
            f"(in-process path {r.notes['path_us']:.0f} us)"
        )
    if r.latencies_ms:
        ordered = sorted(r.latencies_ms)
        return f"p50 {ordered[len(ordered) // 2]:.1f} ms over {len(ordered)} messages"
    return f"{r.rate:,.0f} msg/s, {r.cpu_us_per_message:,.0f} us CPU/msg"


def _peers(config: Config) -> tuple[Path | None, dict[report.Key, str]]:
    wanted = [s for s in config.systems if s in PEERS]
    if not wanted:
        return None, {}
    try:
        return peers.ensure(log), {}
    except peers.PeersUnavailable as exc:
        reason = f"peers' virtualenv unavailable: {str(exc).splitlines()[0]}"
        return None, {(s, a): reason for s in wanted for a in STEPS[s]}


def _versions(python: Path | None, names: list[str]) -> dict[str, str]:
    if python is None:
        return {}
    proc = subprocess.run(
        [str(python), "-m", "bench.compare.machine", *names],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def collect_versions(peers_python: Path | None) -> dict[str, dict[str, str]]:
    return {
        "project": versions(["bus-framework", "aiobotocore", "botocore", "pydantic"]),
        "emulator": _versions(emulator.venv_python(), ["localstack-core"]),
        "peers": _versions(peers_python, peers.PACKAGES),
    }


def _commit() -> str:
    proc = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown"


def record(bench: Bench, started: datetime, seconds: float) -> dict[str, Any]:
    return {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds),
        "commit": _commit(),
        "config": asdict(bench.config),
        "machine": machine(),
        "load": bench.loads,
        "versions": collect_versions(bench.peers_python),
        "results": [asdict(r) for r in bench.results],
        "failures": {f"{s}/{a}": why for (s, a), why in bench.failures.items()},
    }


def save(data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = data["started"].replace(":", "").replace("-", "")
    path = RESULTS_DIR / f"compare-{stamp}.json"
    path.write_text(json.dumps(data, indent=1))
    (RESULTS_DIR / "compare-latest.json").write_text(json.dumps(data, indent=1))
    return path


def chart(peers_python: Path | None, results: Path, out: Path) -> str | None:
    """Draw the PNG in the peers' virtualenv; return why not when it could not."""
    if peers_python is None:
        return "the peers' virtualenv (matplotlib) is unavailable"
    proc = subprocess.run(
        [str(peers_python), "-m", "bench.compare.chart", str(results), str(out)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return None if proc.returncode == 0 else _last_error(proc.stderr)


@dataclass(frozen=True)
class Options:
    config: Config
    write_docs: bool
    report: Path | None
    """Re-render the tables (and docs) from these saved figures instead of measuring."""


def parse(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 messages, 200 latency samples")
    p.add_argument("--messages", type=int)
    p.add_argument("--repetitions", type=int)
    p.add_argument("--concurrency", type=int)
    p.add_argument("--systems", help=f"comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite docs/benchmarks.md and .png (default: on, off with --quick)",
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="RESULTS.json",
        help="measure nothing: print (and with --docs write) a saved run's figures",
    )
    a = p.parse_args(argv)  # fmt: skip
    config = QUICK if a.quick else Config()
    overrides: dict[str, Any] = {
        k: v for k, v in (("messages", a.messages), ("repetitions", a.repetitions),
                          ("concurrency", a.concurrency)) if v is not None
    }  # fmt: skip
    if a.systems:
        chosen = tuple(s.strip() for s in a.systems.split(",") if s.strip())
        unknown = sorted(set(chosen) - set(SYSTEMS))
        if unknown:
            p.error(f"unknown systems: {', '.join(unknown)} (known: {', '.join(SYSTEMS)})")
        overrides["systems"] = chosen
    if overrides.get("repetitions", config.repetitions) < 3:
        log("fewer than 3 repetitions: the figures are not medians of 3 (use for trials only)")
    write_docs = a.docs if a.docs is not None else not (a.quick or a.report)
    return Options(replace(config, **overrides), write_docs, a.report)


def measure(config: Config) -> tuple[dict[str, Any], Path, Path | None]:
    """Run the whole comparison; its record, where it was saved, and the peers' python."""
    started, clock = datetime.now(UTC), time.monotonic()
    peers_python, failures = _peers(config)
    log("starting LocalStack")
    instance = emulator.start(log=log)
    saved = dict(os.environ)
    os.environ.update(instance.env())
    try:
        bench = Bench(config, instance, peers_python)
        bench.failures.update(failures)
        asyncio.run(bench.run())
    finally:
        emulator.stop(instance)
        os.environ.clear()
        os.environ.update(saved)  # what runs next (bench/*.py) must not see a stopped emulator
    data = record(bench, started, time.monotonic() - clock)
    path = save(data)
    log(f"figures saved in {path.relative_to(ROOT)}; runner logs in {bench.work}")
    return data, path, peers_python


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    if options.report is not None:
        path = options.report
        data = json.loads(path.read_text())
        peers_python = peers.python() if peers.is_installed() else None
    else:
        data, path, peers_python = measure(options.config)
    print(docs.tables(data))
    if options.write_docs:
        why = chart(peers_python, path, docs.CHART)
        docs.write(data, chart_problem=why)
        log(f"rewrote {docs.DOC.relative_to(ROOT)}" + (f" (no chart: {why})" if why else ""))
    return 0
