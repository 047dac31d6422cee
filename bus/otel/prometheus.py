"""Metrics for Prometheus: an SDK ``MetricReader`` rendered in the text exposition format.

::

    reader = PrometheusReader()
    provider = meter_provider(reader)                   # bus.otel.metrics
    server = await HttpServer.start(reader.routes(), "127.0.0.1", 9464)

Each scrape collects (cumulative temporality) and renders the text format 0.0.4: names with dots
turned into underscores, ``_seconds`` for second units, ``_total`` for counters; up-down counters
and gauges as gauges; histograms as ``_bucket{le=...}``, ``_sum``, ``_count``. No dependency
beyond the OpenTelemetry SDK (prometheus_client is not needed).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    Metric,
    MetricReader,
    MetricsData,
    Sum,
)

from bus.health import Answer, Route

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


class PrometheusReader(MetricReader):
    """Collects on each scrape; ``render()`` gives the text exposition."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._data: MetricsData | None = None

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._data = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass

    def render(self) -> str:
        with self._lock:
            self._data = None
            self.collect()
            data = self._data
        return render(data) if data is not None else ""

    def routes(self) -> dict[str, Route]:
        """``/metrics`` for ``bus.health.HttpServer``."""
        return {"/metrics": lambda: Answer(200, self.render(), CONTENT_TYPE)}


def render(data: MetricsData) -> str:
    """``data`` in the Prometheus text exposition format."""
    families: dict[str, list[str]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                name, kind = family_name(metric)
                lines = families.get(name)
                if lines is None:
                    help_text = _escape(metric.description or metric.name, quote=False)
                    lines = families[name] = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                lines.extend(_samples(name, metric))
    return "".join(line + "\n" for lines in families.values() for line in lines)


def family_name(metric: Metric) -> tuple[str, str]:
    """The family's Prometheus name and type (``counter`` names end in ``_total`` in samples)."""
    name = _INVALID.sub("_", metric.name)
    unit = _UNITS.get(metric.unit or "")
    if unit and not name.endswith("_" + unit):
        name += "_" + unit
    data = metric.data
    if isinstance(data, Sum):
        return name, "counter" if data.is_monotonic else "gauge"
    if isinstance(data, Histogram):
        return name, "histogram"
    return name, "gauge"


def _samples(name: str, metric: Metric) -> Iterator[str]:
    data = metric.data
    if isinstance(data, Histogram):
        for point in data.data_points:
            labels = dict(point.attributes or {})
            cumulative = 0
            bounds = [*point.explicit_bounds, math.inf]
            for bound, count in zip(bounds, point.bucket_counts, strict=False):
                cumulative += count
                le = {**labels, "le": _number(bound)}
                yield f"{name}_bucket{_labels(le)} {cumulative}"
            yield f"{name}_sum{_labels(labels)} {_number(point.sum)}"
            yield f"{name}_count{_labels(labels)} {point.count}"
    elif isinstance(data, Sum | Gauge):
        suffix = "_total" if isinstance(data, Sum) and data.is_monotonic else ""
        for number in data.data_points:
            yield f"{name}{suffix}{_labels(number.attributes or {})} {_number(number.value)}"


def _labels(attributes: Mapping[str, Any]) -> str:
    if not attributes:
        return ""
    pairs: Iterable[str] = (
        f'{_INVALID.sub("_", key)}="{_escape(str(value))}"' for key, value in attributes.items()
    )
    return "{" + ",".join(pairs) + "}"


def _escape(text: str, quote: bool = True) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _number(value: float) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if math.isnan(value):
            return "NaN"
        return repr(value)
    return str(value)
