"""OpenTelemetry for bus: the ``otel`` extra (``pip install 'bus-framework[otel]'``).

Nothing in bus's core imports this package: a worker or publisher without it records nothing and
pays nothing. ``Metrics`` is the consume and publish middleware recording bus's metrics.
"""

from bus.otel.metrics import Metrics

__all__ = ["Metrics"]
