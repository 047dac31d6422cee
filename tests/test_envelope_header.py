"""The publisher's per-event envelope parts made the cheap way: each equals what the general
functions make (``header``, ``str(uuid.uuid4())``, ``format_time``'s general path)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.envelope.model import HeaderTemplate, format_time, header, new_id

TEXT = st.text(max_size=20)  # lone surrogates and quotes too: both ways escape alike
MAYBE = st.none() | TEXT
TIMES = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(TEXT, TEXT, st.integers(), TEXT, TIMES, MAYBE, MAYBE, MAYBE)
def test_a_rendered_header_is_the_header(
    id: str,
    type: str,
    version: int,
    source: str,
    time: datetime,
    correlation_id: str | None,
    causation_id: str | None,
    traceparent: str | None,
) -> None:
    template = HeaderTemplate.of(type=type, version=version, source=source)
    ours = template.render(id, time, correlation_id, causation_id, traceparent)
    theirs = header(
        id=id,
        type=type,
        version=version,
        source=source,
        time=time,
        correlation_id=correlation_id or id,
        causation_id=causation_id,
        traceparent=traceparent,
    )
    assert ours == theirs


@pytest.mark.parametrize("bad", [True, "2", 2.0])
def test_a_template_refuses_a_version_that_is_not_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="event version must be an int"):
        HeaderTemplate.of(type="t", version=bad, source="s")  # type: ignore[arg-type]


def test_new_ids_are_random_version_4_uuids_in_their_canonical_text() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    # every variant digit occurs (the two random bits under the variant bits are kept)
    assert {text[19] for text in ids} == set("89ab")


@given(TIMES)
def test_utc_times_format_as_the_general_path_does(time: datetime) -> None:
    general = time.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    assert format_time(time) == general
    assert format_time(time.astimezone(timezone(timedelta(hours=2)))) == general
