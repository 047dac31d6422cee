"""The throughput chart (PNG), drawn with matplotlib in the peers' virtualenv.

``python -m bench.compare.chart RESULTS.json OUT.png``: one panel for consuming, one for
publishing; each bar is the median over the repetitions, its whisker the min-max range, its label
the median and the ratio to the bare aiobotocore loop.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.compare.common import Result
from bench.compare.report import CONSUME, PUBLISH, Key, Series, group, rates
from bench.compare.stats import ratio

COLOURS = {"bare": "#8c8c8c", "bus": "#1f77b4", "celery": "#6aa84f", "dramatiq": "#e69138"}


def _panel(
    ax: Any, title: str, series: Sequence[Series], groups: Mapping[Key, list[Result]]
) -> None:
    shown = [s for s in series if s.key in groups]
    summaries = [rates(groups[s.key]) for s in shown]
    base = next((m.median for s, m in zip(shown, summaries, strict=True) if s.system == "bare"), 0)
    ys = list(range(len(shown)))[::-1]
    medians = [m.median for m in summaries]
    errors = [[m.median - m.low for m in summaries], [m.high - m.median for m in summaries]]
    ax.barh(
        ys,
        medians,
        xerr=errors,
        color=[COLOURS.get(s.system, "#999999") for s in shown],
        capsize=3,
        height=0.6,
    )
    ax.set_yticks(ys, [s.label for s in shown])
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel("messages per second (median of the repetitions; whiskers: min-max)")
    top = max((m.high for m in summaries), default=1)
    ax.set_xlim(0, top * 1.35)
    for y, m in zip(ys, summaries, strict=True):
        share = ratio(m.median, base) if base else None
        text = f"{m.median:,.0f}" + (f"  ({share:.2f}x bare)" if share is not None else "")
        ax.text(m.high + top * 0.02, y, text, va="center", fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def draw(record: Mapping[str, Any], out: Path) -> None:
    groups = group(Result(**r) for r in record["results"])
    config = record["config"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), constrained_layout=True)
    _panel(top, "Consume: no-op handler", CONSUME, groups)
    _panel(bottom, "Publish", PUBLISH, groups)
    fig.suptitle(
        f"bus vs a bare aiobotocore loop, Celery and Dramatiq on LocalStack SQS - "
        f"{config['messages']:,} messages of {config['payload_bytes']:,} B, "
        f"concurrency {config['concurrency']}, {config['repetitions']} repetitions",
        fontsize=10,
    )
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
