"""The pure retry decision: backoff shape and the fate of a failed message (Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.control import MAX_DELAY, Reject, Retry
from bus.retry import (
    Attempt,
    DeadLetterNow,
    Policy,
    Redeliver,
    RetryNow,
    backoff,
    decide,
    is_last_receive,
    redelivery_seconds,
)
from bus.topology.model import Backoff


class Transient(Exception):
    pass


POLICY = Policy(
    attempts=3,
    transient=(Transient, TimeoutError),
    in_process=Backoff(initial=0.1, multiplier=2, maximum=1.0),
    redelivery=Backoff(initial=1, multiplier=2, maximum=30, jitter=False),
)

backoffs = st.builds(
    Backoff,
    initial=st.floats(0, 1000),
    multiplier=st.floats(1, 10),
    maximum=st.floats(0, 43_200),
    jitter=st.booleans(),
)
errors = st.sampled_from(
    [Transient("t"), TimeoutError("t"), ValueError("v"), Retry(), Retry(delay=5), Reject("r")]
)


@given(backoffs, st.integers(1, 1000), st.floats(0, 1))
def test_backoff_is_monotonic_and_capped(policy: Backoff, attempt: int, jitter: float) -> None:
    now, later = backoff(policy, attempt, jitter), backoff(policy, attempt + 1, jitter)
    assert 0 <= now <= later <= policy.maximum


@given(backoffs, st.integers(1, 1000), st.floats(0, 1))
def test_jitter_keeps_at_least_half(policy: Backoff, attempt: int, jitter: float) -> None:
    plain = backoff(policy.model_copy(update={"jitter": False}), attempt)
    assert plain / 2 <= backoff(policy, attempt, jitter) <= plain


def test_backoff_doubles_from_initial() -> None:
    policy = Backoff(initial=1, multiplier=2, maximum=30, jitter=False)
    assert [backoff(policy, n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


@given(
    st.integers(1, 20),
    st.integers(1, 20),
    st.integers(1, 30),
    errors,
    st.floats(0, 1),
)
def test_the_last_receive_never_redelivers(
    max_receives: int, extra: int, try_number: int, error: Exception, jitter: float
) -> None:
    """On (or after) the last receive a queue allows, the message goes to the DLQ, or is tried
    again in this process: it is never left for SQS's redrive, which would not say why."""
    attempt = Attempt(receive_count=max_receives + extra - 1, try_number=try_number)
    decision = decide(POLICY, attempt, max_receives, error, jitter)
    assert not isinstance(decision, Redeliver)
    if not isinstance(error, Transient | TimeoutError) or try_number >= POLICY.attempts:
        assert isinstance(decision, DeadLetterNow)


@given(st.integers(1, 50), st.integers(1, 30), errors, st.floats(0, 1))
def test_decisions_are_well_formed(
    receive: int, try_number: int, error: Exception, jitter: float
) -> None:
    decision = decide(POLICY, Attempt(receive, try_number), None, error, jitter)
    if isinstance(decision, RetryNow):
        assert isinstance(error, Transient | TimeoutError)
        assert try_number < POLICY.attempts
        assert 0 <= decision.delay <= POLICY.in_process.maximum
    elif isinstance(decision, Redeliver):
        assert 0 <= decision.delay <= MAX_DELAY
    else:  # without a DLQ only a Reject dead-letters
        assert isinstance(error, Reject)
        assert decision == DeadLetterNow("rejected")


def test_transient_errors_are_tried_again_in_process_first() -> None:
    assert decide(POLICY, Attempt(1, 1), 5, Transient(), 1.0) == RetryNow(0.1)
    assert decide(POLICY, Attempt(1, 2), 5, Transient(), 1.0) == RetryNow(0.2)
    assert decide(POLICY, Attempt(1, 3), 5, Transient(), 1.0) == Redeliver(1)
    assert decide(POLICY, Attempt(3, 3), 5, Transient(), 1.0) == Redeliver(4)
    assert decide(POLICY, Attempt(5, 3), 5, Transient(), 1.0) == DeadLetterNow("handler-error")


def test_other_errors_are_redelivered_by_receive_count() -> None:
    assert decide(POLICY, Attempt(1), 5, ValueError(), 0.0) == Redeliver(1)
    assert decide(POLICY, Attempt(2), 5, ValueError(), 0.0) == Redeliver(2)
    assert decide(POLICY, Attempt(4), 5, ValueError(), 0.0) == Redeliver(8)
    assert decide(POLICY, Attempt(5), 5, ValueError(), 0.0) == DeadLetterNow("handler-error")
    assert decide(POLICY, Attempt(9), None, ValueError(), 0.0) == Redeliver(30)


def test_handlers_steer_with_retry_and_reject() -> None:
    assert decide(POLICY, Attempt(1), 5, Retry(delay=7.2), 0.0) == Redeliver(8)
    assert decide(POLICY, Attempt(2), 5, Retry(), 0.0) == Redeliver(2)
    assert decide(POLICY, Attempt(5), 5, Retry(delay=1), 0.0) == DeadLetterNow("handler-error")
    assert decide(POLICY, Attempt(1), 5, Reject("bad"), 0.0) == DeadLetterNow("rejected")


@pytest.mark.parametrize(
    ("receive", "max_receives", "last"), [(1, 1, True), (2, 3, False), (3, 3, True), (4, 3, True)]
)
def test_last_receive(receive: int, max_receives: int, last: bool) -> None:
    assert is_last_receive(Attempt(receive), max_receives) is last
    assert is_last_receive(Attempt(receive), None) is False


def test_a_short_backoff_is_never_redelivered_at_once() -> None:
    """A redelivery delay is a visibility timeout in whole seconds: rounded up, never to 0."""
    short = Policy(redelivery=Backoff(initial=0.4, multiplier=2, maximum=30))
    for jitter in (0.0, 0.5, 1.0):
        assert decide(short, Attempt(1), 5, ValueError(), jitter) == Redeliver(1)
    assert [redelivery_seconds(s) for s in (0, 0.01, 0.5, 1.0, 1.5, 2.5, 50_000)] == [
        0,
        1,
        1,
        1,
        2,
        3,
        MAX_DELAY,
    ]
    assert decide(POLICY, Attempt(1), 5, Retry(delay=0), 0.0) == Redeliver(0)


@given(backoffs, st.integers(1, 100), st.floats(0, 1))
def test_redelivery_waits_at_least_the_backoff(
    policy: Backoff, receive: int, jitter: float
) -> None:
    decision = decide(Policy(redelivery=policy), Attempt(receive), None, ValueError(), jitter)
    assert isinstance(decision, Redeliver)
    seconds = backoff(policy, receive, jitter)
    assert min(seconds, MAX_DELAY) <= decision.delay <= seconds + 1
    assert (decision.delay == 0) == (seconds == 0)


def test_huge_attempts_do_not_overflow() -> None:
    policy = Backoff(initial=1, multiplier=10, maximum=300, jitter=False)
    assert backoff(policy, 10_000) == 300
