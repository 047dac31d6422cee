"""The comparison's tables: every figure as median (min-max) over the repetitions, and its ratio to
the bare aiobotocore loop. Pure functions over ``Result`` lists; standard library only (the chart,
drawn in the peers' virtualenv, reads the same summaries)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.compare.common import Result
from bench.compare.stats import Summary, Target, percentile, ratio

Key = tuple[str, str]
"""(system, action)."""


@dataclass(frozen=True)
class Series:
    system: str
    action: str
    label: str

    @property
    def key(self) -> Key:
        return (self.system, self.action)


CONSUME = (
    Series("bare", "consume", "bare aiobotocore loop"),
    Series("bare", "consume-same", "bare loop, bus's message"),
    Series("bus", "consume", "bus worker"),
    Series("celery", "consume", "Celery (kombu SQS)"),
    Series("dramatiq", "consume", "Dramatiq (dramatiq-sqs)"),
)
PUBLISH = (
    Series("bare", "publish", "bare SendMessageBatch loop"),
    Series("bare", "publish-same", "bare loop, bus's message"),
    Series("bus", "publish", "bus publish_many (batched)"),
    Series("bus", "publish-single", "bus publish (one event per call)"),
    Series("celery", "publish", "Celery delay()"),
    Series("dramatiq", "publish", "Dramatiq send()"),
)
LATENCY = (
    Series("bare", "latency-serial", "bare loop, one message at a time"),
    Series("bus", "latency-serial", "bus, one message at a time"),
    Series("bare", "latency", "bare loop, open loop (fixed rate)"),
    Series("bus", "latency", "bus, open loop (fixed rate)"),
)
BASE = "bare"


def group(results: Iterable[Result]) -> dict[Key, list[Result]]:
    out: dict[Key, list[Result]] = defaultdict(list)
    for r in results:
        out[(r.system, r.action)].append(r)
    return dict(out)


def rates(results: Sequence[Result]) -> Summary:
    return Summary.of([r.rate for r in results])


def cpu_per_message(results: Sequence[Result]) -> Summary:
    return Summary.of([r.cpu_us_per_message for r in results])


def latency(results: Sequence[Result], q: float) -> Summary:
    """The ``q``-th percentile of each repetition's samples, summarised over repetitions."""
    return Summary.of([percentile(r.latencies_ms, q) for r in results if r.latencies_ms])


def number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def spread(s: Summary, digits: int = 0) -> str:
    """``median (min-max)``."""
    return f"{number(s.median, digits)} ({number(s.low, digits)}-{number(s.high, digits)})"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns (readable as plain text too)."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _missing(label: str, reason: str | None) -> list[str]:
    return [label, f"not measured: {reason}" if reason else "not measured", "", "", ""]


def throughput_rows(
    groups: Mapping[Key, Sequence[Result]],
    series: Sequence[Series],
    failures: Mapping[Key, str] | None = None,
) -> list[list[str]]:
    """One row per series: msg/s, its ratio to bare, CPU per message, its ratio to bare."""
    failures = failures or {}
    base = groups.get((BASE, series[0].action))
    base_rate = rates(base).median if base else float("nan")
    base_cpu = cpu_per_message(base).median if base else float("nan")
    rows = []
    for s in series:
        found = groups.get(s.key)
        if not found:
            rows.append(_missing(s.label, failures.get(s.key)))
            continue
        rate, cpu = rates(found), cpu_per_message(found)
        rows.append(
            [
                s.label,
                spread(rate),
                times(ratio(rate.median, base_rate)),
                spread(cpu),
                times(ratio(cpu.median, base_cpu)),
            ]
        )
    return rows


THROUGHPUT_HEADERS = ("system", "msg/s", "x bare", "CPU us/msg", "x bare")
LATENCY_HEADERS = ("system", "p50 ms", "x bare", "p99 ms", "x bare")


def latency_rows(
    groups: Mapping[Key, Sequence[Result]], failures: Mapping[Key, str] | None = None
) -> list[list[str]]:
    """One row per latency series; ratios to the bare loop measured the same way."""
    failures = failures or {}
    rows = []
    for s in LATENCY:
        found = groups.get(s.key)
        if not found:
            rows.append(_missing(s.label, failures.get(s.key)))
            continue
        base = groups.get((BASE, s.action))
        p50, p99 = latency(found, 50), latency(found, 99)
        base50 = latency(base, 50).median if base else float("nan")
        base99 = latency(base, 99).median if base else float("nan")
        rows.append(
            [
                s.label,
                spread(p50, 1),
                times(ratio(p50.median, base50)),
                spread(p99, 1),
                times(ratio(p99.median, base99)),
            ]
        )
    return rows


def _median_rate(groups: Mapping[Key, Sequence[Result]], key: Key) -> float:
    found = groups.get(key)
    return rates(found).median if found else float("nan")


def _target(
    label: str, at_least: float, value: float, base: float, *, at_most: bool = False
) -> Target:
    measured = ratio(value, base)
    if measured is not None and measured != measured:  # NaN: one side was not measured
        measured = None
    return Target(label, at_least, measured, at_most=at_most)


def _median_cpu(groups: Mapping[Key, Sequence[Result]], key: Key) -> float:
    found = groups.get(key)
    return cpu_per_message(found).median if found else float("nan")


def per_middleware_us(results: Sequence[Result]) -> Summary:
    """What each added no-op consume middleware cost, in CPU microseconds per message."""
    return Summary.of([float(r.notes["per_middleware_us"]) for r in results])


def _middleware_target(groups: Mapping[Key, Sequence[Result]]) -> Target:
    found = groups.get(("bus", "middleware"))
    value = per_middleware_us(found).median if found else None
    return Target("each no-op middleware, CPU per message", 5.0, value, at_most=True, unit="us")


def targets(groups: Mapping[Key, Sequence[Result]]) -> list[Target]:
    """The issue's goals, read from the ratios of the medians."""
    bus = _median_rate(groups, ("bus", "consume"))
    return [
        _target("bus consume / bare loop", 0.95, bus, _median_rate(groups, ("bare", "consume"))),
        _target(
            "bus consume / bare loop consuming bus's message",
            0.95,
            bus,
            _median_rate(groups, ("bare", "consume-same")),
        ),
        _target(
            "bus consume CPU per message / bare loop's",
            1.15,
            _median_cpu(groups, ("bus", "consume")),
            _median_cpu(groups, ("bare", "consume")),
            at_most=True,
        ),
        _target(
            "bus batched publish / bare SendMessageBatch loop",
            0.85,
            _median_rate(groups, ("bus", "publish")),
            _median_rate(groups, ("bare", "publish")),
        ),
        _target(
            "bus batched publish / bare loop sending bus's message",
            0.85,
            _median_rate(groups, ("bus", "publish")),
            _median_rate(groups, ("bare", "publish-same")),
        ),
        _middleware_target(groups),
        _target("bus consume / Celery", 3.0, bus, _median_rate(groups, ("celery", "consume"))),
        _target("bus consume / Dramatiq", 3.0, bus, _median_rate(groups, ("dramatiq", "consume"))),
        _target(
            "bus batched publish / one event per call",
            5.0,
            _median_rate(groups, ("bus", "publish")),
            _median_rate(groups, ("bus", "publish-single")),
        ),
    ]


def target_rows(found: Sequence[Target]) -> list[list[str]]:
    verdict = {True: "met", False: "MISSED", None: "not measured"}
    return [
        [
            t.label,
            f"{'<=' if t.at_most else '>='} {t.at_least:g}{_unit(t.unit)}",
            _value(t),
            verdict[t.met],
        ]
        for t in found
    ]


def _unit(unit: str) -> str:
    return unit if unit == "x" else f" {unit}"


def _value(t: Target) -> str:
    if t.unit == "x" or t.value is None:
        return times(t.value)
    return f"{t.value:.2f} {t.unit}"


TARGET_HEADERS = ("target", "goal", "measured", "")


def render(
    groups: Mapping[Key, Sequence[Result]], failures: Mapping[Key, str] | None = None
) -> str:
    """The three tables and the targets, as Markdown."""
    parts = [
        "Consume (messages/s and process CPU per message; higher msg/s is better, lower CPU is):",
        markdown(THROUGHPUT_HEADERS, throughput_rows(groups, CONSUME, failures)),
        "Publish:",
        markdown(THROUGHPUT_HEADERS, throughput_rows(groups, PUBLISH, failures)),
        "End-to-end latency, publish -> handler start:",
        markdown(LATENCY_HEADERS, latency_rows(groups, failures)),
        "Targets (ratios of the medians):",
        markdown(TARGET_HEADERS, target_rows(targets(groups))),
    ]
    return "\n\n".join(parts) + "\n"
