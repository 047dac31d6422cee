"""The core imports no OpenTelemetry: only ``bus.otel`` (the ``otel`` extra) does."""

from __future__ import annotations

import subprocess
import sys

CORE = """
import sys
import bus, bus.worker, bus.publish, bus.middleware, bus.dlq.redrive, bus.dlq.replay, cli
from bus.cli import up, trace
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
assert not loaded, loaded
import bus.otel
assert "opentelemetry.trace" in sys.modules
"""


def test_the_core_imports_no_opentelemetry() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CORE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
