"""``idempotency: {store: dynamodb, ...}`` in topology.yaml: values, defaults, and the file:line
errors of bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.errors import TopologyError
from bus.topology.idempotency_model import parse_duration
from bus.topology.load import load_topology
from bus.topology.model import Idempotency

HEAD = """\
name: shop
queues:
  billing: {}
events:
  OrderPlaced: {model: "schemas.orders:OrderPlaced"}
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(HEAD + body)
    return path


def problems(tmp_path: Path, body: str) -> list[str]:
    path = write(tmp_path, body)
    with pytest.raises(TopologyError) as exc:
        load_topology(path, env="dev")
    return [str(p).replace(str(path), "T") for p in exc.value.problems]


def test_dynamodb_global_and_per_queue(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
idempotency: {store: dynamodb, table: handled, ttl: 2d, in_progress_expiry: 15m}
handlers:
  billing:
    events: {OrderPlaced: "handlers.billing:charge"}
    idempotency: {store: dynamodb, table: billing-handled, expires: 90}
""",
    )
    t = load_topology(path, env="dev")
    assert t.idempotency == Idempotency(store="dynamodb", table="handled", ttl=172_800, expires=900)
    own = t.handlers["billing"].idempotency
    assert own is not None
    assert (own.table, own.expires, own.ttl) == ("billing-handled", 90, 7 * 86_400)


def test_bad_values_are_reported_at_their_line(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """\
idempotency: {store: dynamodb, table: handled, ttl: 7 weeks}
handlers:
  billing:
    events: {OrderPlaced: "handlers.billing:charge"}
    idempotency:
      store: dynamodb
      table: "no/slashes"
      in_progress_expiry: 0
""",
    )
    assert got == [
        "T:6:48: idempotency.ttl: '7 weeks' is not a duration: seconds, or e.g. 90s, 15m, 2h, 7d",
        "T:12:14: handlers.billing.idempotency.table: must be letters, digits, '.', '-' and '_' "
        "only, got 'no/slashes'",
        "T:13:27: handlers.billing.idempotency.in_progress_expiry: must be greater than 0.0, got 0",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{store: dynamodb}", "store dynamodb needs a table"),
        ("{table: handled}", "table is a setting of store dynamodb, not of store memory"),
        ("{store: dynamodb, table: handled, options: {a: 1}}", "not options"),
        ("{store: dynamodb, table: handled, ttl: 60, expires: 2m}", "ttl (60 s) must be at least"),
    ],
)
def test_settings_that_do_not_fit_the_store(tmp_path: Path, body: str, message: str) -> None:
    [got] = problems(tmp_path, f"idempotency: {body}\n")
    assert got.startswith("T:6:"), got
    assert message in got, got


@given(st.integers(0, 10**6), st.integers(0, 99), st.sampled_from(["", "s", "m", "h", "d"]))
def test_durations(whole: int, hundredths: int, unit: str) -> None:
    seconds = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}[unit]
    text = f"{whole}.{hundredths:02d}{unit}"
    assert parse_duration(text) == pytest.approx((whole + hundredths / 100) * seconds)
    assert parse_duration(f" {whole} {unit} ") == whole * seconds
    assert parse_duration(whole) == whole
