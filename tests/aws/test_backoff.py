from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.aws.backoff import RetryConfig, backoff
from bus.topology.model import Backoff

shapes = st.builds(
    RetryConfig,
    attempts=st.integers(1, 10),
    initial=st.floats(0, 100),
    multiplier=st.floats(1, 10),
    maximum=st.floats(0, 1000),
    jitter=st.booleans(),
)


@given(shapes, st.integers(1, 200), st.floats(0, 1))
def test_backoff_is_monotonic_capped_and_never_negative(
    shape: RetryConfig, attempt: int, draw: float
) -> None:
    now, later = backoff(shape, attempt, draw), backoff(shape, attempt + 1, draw)
    assert 0 <= now <= later <= shape.maximum


@given(shapes, st.integers(1, 50), st.floats(0, 1))
def test_jitter_keeps_between_half_and_all(shape: RetryConfig, attempt: int, draw: float) -> None:
    plain = backoff(RetryConfig(**{**shape.__dict__, "jitter": False}), attempt)
    jittered = backoff(shape, attempt, draw)
    if shape.jitter:
        assert plain * 0.5 - 1e-9 <= jittered <= plain + 1e-9
    else:
        assert jittered == plain


def test_the_topology_backoff_is_a_shape() -> None:
    policy = Backoff(initial=1, multiplier=2, maximum=30, jitter=False)
    assert [backoff(policy, n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]


def test_retry_config_delay_and_checks() -> None:
    assert RetryConfig(initial=0.5, maximum=30, jitter=False).delay(3) == 2.0
    with pytest.raises(ValueError, match="at least 1"):
        RetryConfig(attempts=0)
    with pytest.raises(ValueError, match="multiplier"):
        RetryConfig(multiplier=0.5)
