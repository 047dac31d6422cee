"""Handler control flow: Retry and Reject are signals, not errors."""

from __future__ import annotations

import pytest

from bus.control import MAX_DELAY, Control, Reject, Retry
from bus.errors import BusError


def test_retry_carries_its_delay_and_reason() -> None:
    signal = Retry(delay=2.5, reason="stock service busy")
    assert (signal.delay, signal.reason, str(signal)) == (
        2.5,
        "stock service busy",
        "stock service busy",
    )
    assert str(Retry(delay=3)) == "retry in 3s"
    assert Retry().delay is None


@pytest.mark.parametrize("delay", [-1, MAX_DELAY + 1])
def test_retry_refuses_delays_sqs_cannot_do(delay: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 43200"):
        Retry(delay=delay)


def test_reject_needs_a_reason() -> None:
    assert Reject("order o-1 was cancelled").reason == "order o-1 was cancelled"
    with pytest.raises(ValueError, match="needs a reason"):
        Reject("")


def test_signals_are_not_bus_errors() -> None:
    for signal in (Retry(), Reject("no")):
        assert isinstance(signal, Control)
        assert not isinstance(signal, BusError)
