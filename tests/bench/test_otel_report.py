"""bench.otel prints the issue's targets beside the worker's figures only (section 3)."""

from __future__ import annotations

import pytest

from bench.otel import _report


def test_targets_are_shown_where_they_apply_and_nowhere_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = {"off": 100e-6, "traces+metrics": 112e-6, "no-extra": 101e-6}
    rounds = {name: [value, value] for name, value in results.items()}
    _report(results, rounds, targeted=True)
    worker = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "1.12x of off (target <= 1.15x), +12.0 us; by round 1.12x" in worker[1]
    assert "1.01x of off (target <= 1.02x)" in worker[2]
    _report(results, rounds)
    beside = " ".join(capsys.readouterr().out.split())
    assert "target" not in beside
    assert "1.12x of off, +12.0 us; by round 1.12x" in beside
