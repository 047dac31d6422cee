"""``bus publish`` (without AWS: validation), ``bus schemas export|check`` on the repository."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import structlog

from bus.cli import main
from bus.cli import publish as publish_commands
from bus.publish.prepare import Prepared
from bus.publish.senders import EntryOutcome, entry_id
from tests.publish.scripted import Script, ScriptedPublisher, ok

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = str(ROOT / "topology.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        with pytest.raises(SystemExit) as info:
            main(list(argv))
    finally:
        structlog.reset_defaults()  # the CLI configured logging onto capsys's streams
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_schemas_check_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "schemas", "check", "-t", TOPOLOGY)
    assert code == 0, err
    assert "6 event versions compatible" in out
    assert err == ""


def test_committed_snapshot_is_up_to_date(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "schemas", "export", "-t", TOPOLOGY, "--out", str(tmp_path))
    assert code == 0
    versions = [
        "LedgerEntry.v1.json",
        "OrderPlaced.v1.json",
        "OrderPlaced.v2.json",
        "OrderShipped.v1.json",
        "PaymentCaptured.v1.json",
        "PaymentFailed.v1.json",
    ]
    snapshots = ROOT / "schemas" / "snapshots"
    fresh = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
    committed = sorted(str(p.relative_to(snapshots)) for p in snapshots.rglob("*.json"))
    assert fresh == committed == sorted([*versions, *(f"envelopes/{v}" for v in versions)])
    for name in fresh:
        assert (tmp_path / name).read_text() == (snapshots / name).read_text()
    assert out.count(".json") == 12


def _app(tmp_path: Path, model_source: str) -> Path:
    """A topology in ``tmp_path`` whose one event's model is ``model_source`` (a fresh module)."""
    module = "compat_" + uuid.uuid4().hex[:8]
    (tmp_path / f"{module}.py").write_text(
        "from typing import Literal\nfrom pydantic import BaseModel, ConfigDict, Field\n"
        + model_source
    )
    topology = tmp_path / "topology.yaml"
    topology.write_text(
        "name: app\ntopics:\n  t: {}\n"
        f"events:\n  Paid:\n    model: {module}:Paid\n    publish_to: [{{topic: t}}]\n"
    )
    return topology


V1 = """
class Paid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    amount: int = Field(ge=0)
    currency: Literal["EUR", "USD"] = "EUR"
"""


def test_schemas_check_names_event_field_and_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    snapshots = tmp_path / "snap"
    run(capsys, "schemas", "export", "-t", str(_app(tmp_path, V1)), "--out", str(snapshots))
    broken = (
        V1.replace("order_id: str", "order_ref: str").replace('"EUR", "USD"', '"EUR"')
        + "    channel: int\n"
    )
    code, _, err = run(
        capsys, "schemas", "check", "-t", str(_app(tmp_path, broken)), "--snapshots", str(snapshots)
    )
    assert code == 3
    assert (
        "Paid v1: field 'order_id': renamed to 'order_ref' (removed, and a field with the same "
        "schema added); consumers lose the value [BREAKING: field-renamed]" in err
    )
    assert (
        "Paid v1: field 'channel': new field without a default [BREAKING: required-field-added]"
        in err
    )
    assert "Paid v1: field 'currency': value 'USD' removed [BREAKING: enum-value-removed]" in err
    assert "error: 3 breaking changes" in err


def test_schemas_check_allows_additive_changes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    snapshots = tmp_path / "snap"
    run(capsys, "schemas", "export", "-t", str(_app(tmp_path, V1)), "--out", str(snapshots))
    additive = V1.replace('"EUR", "USD"', '"EUR", "USD", "GBP"') + "    note: str | None = None\n"
    code, out, err = run(
        capsys,
        "schemas",
        "check",
        "-t",
        str(_app(tmp_path, additive)),
        "--snapshots",
        str(snapshots),
    )
    assert code == 0, err
    assert "field 'note': new optional field [compatible: optional-field-added]" in out
    assert "field 'currency': values ['GBP'] added [compatible: enum-widened]" in out


def test_publish_invalid_data_exits_3_naming_the_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = {"order_id": "o-1", "customer_id": "c", "total_cents": -1, "country": "DE"}
    code, out, err = run(
        capsys,
        "publish",
        "OrderPlaced",
        "--data",
        json.dumps(data),
        "-t",
        TOPOLOGY,
        "--endpoint-url",
        "http://127.0.0.1:9",  # nothing listens: proves no call is made
    )
    assert code == 3
    assert "total_cents: Input should be greater than or equal to 0" in err
    assert out == ""


def test_publish_rejects_bad_json_and_unknown_types(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "publish", "OrderPlaced", "--data", "{nope", "-t", TOPOLOGY)
    assert code == 3
    assert "--data is not JSON" in err
    code, _, err = run(capsys, "publish", "Nope", "--data", "{}", "-t", TOPOLOGY)
    assert code == 3
    assert "unknown event type 'Nope'" in err
    missing = tmp_path / "missing.json"
    code, _, err = run(capsys, "publish", "OrderPlaced", "--file", str(missing), "-t", TOPOLOGY)
    assert code == 2
    assert "cannot read" in err
    code, _, err = run(capsys, "publish", "OrderPlaced", "-t", TOPOLOGY)
    assert code == 2
    assert "exactly one of --data or --file" in err
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"order_id": "\xff"}')
    code, out, err = run(capsys, "publish", "OrderPlaced", "--file", str(binary), "-t", TOPOLOGY)
    assert (code, out) == (3, "")
    assert f"OrderPlaced: {binary} is not JSON: 'utf-8' codec can't decode byte 0xff" in err


def test_publish_reads_a_file_saved_with_a_byte_order_mark(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = {"order_id": "o-1", "customer_id": "c", "total_cents": -1, "country": "DE"}
    for codec in ("utf-8-sig", "utf-16"):  # what Windows editors save: JSON's other encodings
        path = tmp_path / f"{codec}.json"
        path.write_bytes(json.dumps(data).encode(codec))
        code, _, err = run(capsys, "publish", "OrderPlaced", "--file", str(path), "-t", TOPOLOGY)
        assert code == 3  # read and validated: the data's own error, not the file's
        assert "total_cents: Input should be greater than or equal to 0" in err


def _denied_once_on_bus(attempt: int, item: Prepared) -> EntryOutcome:
    if item.index == 1:
        return EntryOutcome(entry_id(item), code="AccessDeniedException", message="not allowed")
    return ok(attempt, item)


def _scripted(
    monkeypatch: pytest.MonkeyPatch, scripts: dict[str, Script]
) -> list[ScriptedPublisher]:
    made: list[ScriptedPublisher] = []

    def publisher(*_: object) -> ScriptedPublisher:
        made.append(ScriptedPublisher(scripts))
        return made[-1]

    monkeypatch.setattr(publish_commands, "Publisher", publisher)
    return made


PLACED = {"order_id": "o-1", "customer_id": "c", "total_cents": 10, "country": "DE"}
OFFLINE = (
    "-t",
    TOPOLOGY,
    "--env",
    "t",
    "--region",
    "us-east-1",
    "--endpoint-url",
    "http://127.0.0.1:9",
)


def test_publish_count_prints_what_was_delivered_then_the_failures_and_exits_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _scripted(monkeypatch, {"bus:shop-events": _denied_once_on_bus})
    code, out, err = run(
        capsys, "publish", "OrderPlaced", "--data", json.dumps(PLACED), "--count", "3", *OFFLINE
    )
    publisher = made[0]
    assert code == 4
    lines = out.splitlines()
    assert len(lines) == 5  # 3 x topic:orders, 2 x bus:shop-events
    ids = {line.split()[0] for line in lines}
    assert len(ids) == 3
    topic = publisher.senders["topic:orders"].sent
    assert {f"{i.id} topic:orders m-{i.index}-1" for i in topic} <= set(lines)
    [failed] = [i for i in publisher.senders["bus:shop-events"].sent if i.index == 1]
    assert err.splitlines() == [
        f"{failed.id} bus:shop-events failed: AccessDeniedException: not allowed",
        "error: 1 of 3 events not fully published (5 deliveries succeeded); first AWS error "
        "code: AccessDeniedException",
    ]
    assert "publish.failed" not in err  # no log line as well, unless --verbose


def test_publish_verbose_also_logs_the_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _scripted(monkeypatch, {"bus:shop-events": _denied_once_on_bus})
    code, out, err = run(
        capsys, "publish", "OrderPlaced", "--data", json.dumps(PLACED), "-n", "2", "-v", *OFFLINE
    )
    assert code == 4
    assert len(out.splitlines()) == 3
    assert "publish.failed" in out + err


def test_publish_one_event_that_fails_prints_its_delivered_ids_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(attempt: int, item: Prepared) -> EntryOutcome:
        return EntryOutcome(entry_id(item), code="AccessDeniedException", message="not allowed")

    _scripted(monkeypatch, {"bus:shop-events": denied})
    code, out, err = run(capsys, "publish", "OrderPlaced", "--data", json.dumps(PLACED), *OFFLINE)
    assert code == 4
    [line] = out.splitlines()
    assert line.split()[1:] == ["topic:orders", "m-0-1"]
    assert err.splitlines()[-1].startswith("error: 1 of 1 event not fully published")


def test_publish_too_large_for_a_destination_exits_3_sending_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _scripted(monkeypatch, {})
    line = {"sku": "s" * 64, "quantity": 1, "unit_price_cents": 1}
    big = {**PLACED, "lines": [line] * 4_000}
    code, out, err = run(
        capsys, "publish", "OrderPlaced", "--data", json.dumps(big), "-n", "2", *OFFLINE
    )
    assert code == 3
    assert out == ""
    [message] = err.splitlines()
    assert message.startswith("error: OrderPlaced ")
    assert "over the 262144-byte limit" in message
    assert made[0].resolved == []
