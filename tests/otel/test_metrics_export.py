"""Exporting the metrics: the Prometheus text rendering, OTLP through the standard variables, and
a core that imports no OpenTelemetry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.http import metric_exporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import TracerProvider

from bus.otel.metrics import meter_provider, otlp_configured
from bus.otel.prometheus import PrometheusReader
from tests.otel.conftest import Collector

ROOT = Path(__file__).resolve().parents[2]


def test_the_text_exposition_of_counters_gauges_and_histograms() -> None:
    reader = PrometheusReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("t")
    counter = meter.create_counter("bus.messages.handled", "{message}", 'Handled "ok".')
    counter.add(2, {"messaging.destination.name": 'we"ird\\q\nx'})
    counter.add(1, {"messaging.destination.name": "b"})
    gauge = meter.create_up_down_counter("bus.messages.in_flight", "{message}")
    gauge.add(3)
    gauge.add(-1)
    histogram = meter.create_histogram(
        "messaging.process.duration", "s", explicit_bucket_boundaries_advisory=(0.1, 1.0)
    )
    for seconds in (0.05, 0.5, 0.7, 5):
        histogram.record(seconds, {"bus.outcome": "handled"})
    text = reader.render()
    assert text.splitlines() == [
        '# HELP bus_messages_handled Handled "ok".',
        "# TYPE bus_messages_handled counter",
        'bus_messages_handled_total{messaging_destination_name="we\\"ird\\\\q\\nx"} 2',
        'bus_messages_handled_total{messaging_destination_name="b"} 1',
        "# HELP bus_messages_in_flight bus.messages.in_flight",
        "# TYPE bus_messages_in_flight gauge",
        "bus_messages_in_flight 2",
        "# HELP messaging_process_duration_seconds messaging.process.duration",
        "# TYPE messaging_process_duration_seconds histogram",
        'messaging_process_duration_seconds_bucket{bus_outcome="handled",le="0.1"} 1',
        'messaging_process_duration_seconds_bucket{bus_outcome="handled",le="1.0"} 3',
        'messaging_process_duration_seconds_bucket{bus_outcome="handled",le="+Inf"} 4',
        'messaging_process_duration_seconds_sum{bus_outcome="handled"} 6.25',
        'messaging_process_duration_seconds_count{bus_outcome="handled"} 4',
    ]
    counter.add(1, {"messaging.destination.name": "b"})
    assert 'bus_messages_handled_total{messaging_destination_name="b"} 2' in reader.render()


def test_otlp_is_configured_by_the_standard_variables() -> None:
    assert not otlp_configured({})
    assert otlp_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert otlp_configured({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"})
    assert not otlp_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}
    )


def test_metrics_go_to_the_otlp_endpoint_the_variables_name(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing-worker")
    Collector.received.clear()
    provider = meter_provider(service="orders")
    provider.get_meter("bus").create_counter("bus.messages.handled").add(5, {"k": "v"})
    assert provider.force_flush(10_000)
    provider.shutdown()
    ((path, content_type, body), *_) = Collector.received
    assert (path, content_type) == ("/v1/metrics", "application/x-protobuf")
    assert b"bus.messages.handled" in body
    assert b"billing-worker" in body  # OTEL_SERVICE_NAME wins over the topology's name


def test_without_variables_there_is_no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    made: list[object] = []
    monkeypatch.setattr(metric_exporter, "OTLPMetricExporter", lambda *a, **k: made.append(a))
    reader = InMemoryMetricReader()
    provider = meter_provider(reader, service="orders")
    provider.get_meter("bus").create_counter("c").add(1)
    data = reader.get_metrics_data()
    assert data is not None
    assert data.resource_metrics[0].resource.attributes["service.name"] == "orders"
    assert made == []  # with the variables: see the collector test above
    provider.shutdown()


def test_the_core_imports_no_opentelemetry() -> None:
    code = (
        "import sys, bus, bus.worker, bus.publish, bus.health, bus.cli;"
        "import bus.cli.worker;"
        "found = sorted(m for m in sys.modules if m.startswith('opentelemetry'));"
        "print(found); sys.exit(1 if found else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_metrics_port_without_the_extra_is_one_clear_error() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from cli import main\n"
        "main(['worker', '--metrics-port', '9999', '-t', 'topology.yaml', '--env', 'dev'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_REGION": "us-east-1"},
    )
    assert done.returncode == 3, done.stderr
    assert "--metrics-port needs OpenTelemetry: pip install 'bus-framework[otel]'" in done.stderr
    assert "Traceback" not in done.stderr


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


@settings(max_examples=60, deadline=None)
@given(value=st.text(max_size=30), key=st.from_regex(r"[a-z][a-z0-9_.\-]{0,15}", fullmatch=True))
def test_any_label_value_reads_back_from_the_exposition(value: str, key: str) -> None:
    reader = PrometheusReader()
    counter = MeterProvider(metric_readers=[reader]).get_meter("t").create_counter("c.x")
    counter.add(1, {key: value})
    lines = reader.render().split("\n")  # the format's only line break (\r may stay raw)
    (line,) = [line for line in lines if line and not line.startswith("#")]
    match = re.fullmatch(r'c_x_total\{([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"\} 1', line)
    assert match is not None, line
    assert match.group(1) == re.sub(r"[^a-zA-Z0-9_:]", "_", key)
    assert _unescape(match.group(2)) == value


def test_traces_are_configured_by_the_standard_variables() -> None:
    from bus.otel.instrument import traces_configured, traces_from_environment

    assert traces_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert traces_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not traces_configured({})
    assert not traces_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )
    assert not traces_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert traces_from_environment("svc", {}) is None


def exemplars(provider: MeterProvider, data: Callable[[], MetricsData | None]) -> int:
    """How many exemplars a histogram record inside a sampled span leaves."""
    tracer = TracerProvider().get_tracer("test")
    histogram = provider.get_meter("bus").create_histogram("d", "s")
    with tracer.start_as_current_span("process"):
        histogram.record(0.5, {"k": "v"})
    found = data()
    assert found is not None
    ((point,),) = [
        m.data.data_points
        for r in found.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "d"
    ]
    assert isinstance(point, HistogramDataPoint)
    assert point.count == 1
    return len(point.exemplars)


def test_exemplars_are_made_only_for_a_reader_that_exports_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_METRICS_EXEMPLAR_FILTER", raising=False)
    prometheus = PrometheusReader()  # the text format 0.0.4 has no exemplars

    def rendered() -> MetricsData | None:
        prometheus.render()
        return prometheus._data

    assert exemplars(meter_provider(prometheus, environ={}), rendered) == 0
    other = InMemoryMetricReader()  # any other reader may export them: the SDK's default
    assert (
        exemplars(meter_provider(PrometheusReader(), other, environ={}), other.get_metrics_data)
        == 1
    )
    asked = PrometheusReader()

    def rendered_too() -> MetricsData | None:
        asked.render()
        return asked._data

    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_on")
    provider = meter_provider(asked, environ={})
    assert exemplars(provider, rendered_too) == 1  # the variable wins (the SDK reads it)
