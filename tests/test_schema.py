"""The registry: imports from the topology, lookups, validation naming fields, upcasting."""

from __future__ import annotations

import tracemalloc
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from bus.aws.failure import MAX_ERROR_CHARS
from bus.errors import EventValidationError, SchemaError, UnknownEventError
from bus.schema import EventSpec, PreviousVersion, Registry
from bus.schema.registry import MAX_VALIDATION_CHARS, format_loc, validation_error
from bus.topology.load import load_topology
from bus.topology.model import Topology
from schemas.orders import LedgerEntry, OrderLine, OrderPlaced, OrderPlacedV1

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_topology(load_topology(ROOT / "topology.yaml"), ROOT)


def _topology(events: dict[str, Any]) -> Topology:
    return Topology.model_validate({"name": "app", "topics": {"t": {}}, "events": events})


def _module(tmp_path: Path, source: str) -> str:
    name = "evmod_" + uuid.uuid4().hex[:8]
    (tmp_path / f"{name}.py").write_text(source)
    return name


def test_reference_topology_registers_every_event(registry: Registry) -> None:
    assert sorted(s.name for s in registry) == [
        "LedgerEntry",
        "OrderPlaced",
        "OrderShipped",
        "PaymentCaptured",
        "PaymentFailed",
    ]
    spec = registry.spec("OrderPlaced")
    assert spec.version == 2
    assert spec.versions == (1, 2)
    assert spec.model is OrderPlaced
    assert spec.model_for(1) is OrderPlacedV1
    assert spec.source == "shop"
    assert spec.attributes == ("country", "currency", "total_cents")
    assert [d.topic or d.bus for d in spec.destinations] == ["orders", "shop-events"]
    assert registry.spec("LedgerEntry").message_group_id == "account_id"


def test_event_type_of_class_and_instance(registry: Registry) -> None:
    entry = LedgerEntry(account_id="a", sequence=1, amount_cents=5)
    assert registry.event_type_of(entry).name == "LedgerEntry"
    assert registry.event_type_of(LedgerEntry).name == "LedgerEntry"


def test_event_type_of_old_version_says_publish_the_current(registry: Registry) -> None:
    old = OrderPlacedV1(order_id="o", customer_id="c", amount="1.00", country="DE")  # type: ignore[arg-type]
    with pytest.raises(UnknownEventError, match="version 1 of OrderPlaced"):
        registry.event_type_of(old)


def test_event_type_of_undeclared_model(registry: Registry) -> None:
    class Stray(BaseModel):
        x: int

    with pytest.raises(UnknownEventError, match="not the model of any event type"):
        registry.event_type_of(Stray(x=1))


def test_unknown_type_and_version(registry: Registry) -> None:
    with pytest.raises(UnknownEventError, match="unknown event type 'Nope'"):
        registry.spec("Nope")
    with pytest.raises(UnknownEventError, match="no version 3"):
        registry.parse("OrderPlaced", 3, {})
    with pytest.raises(UnknownEventError, match="no version 2"):
        registry.parse("PaymentFailed", 2, {"order_id": "o", "reason": "r"})


def test_validation_error_names_every_field(registry: Registry) -> None:
    bad = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "total_cents": -5,
        "country": "de",
        "lines": [{"sku": "a", "quantity": 0, "unit_price_cents": 1}],
    }
    with pytest.raises(EventValidationError) as info:
        registry.validate("OrderPlaced", bad)
    assert set(info.value.fields) == {"total_cents", "country", "lines[0].quantity"}
    assert info.value.event_type == "OrderPlaced"
    assert "total_cents" in str(info.value)
    assert "OrderPlaced v2" in str(info.value)


class _Varied(BaseModel):
    """Errors of many kinds: nested, keyed, union, literal, a validator's own text, model-wide."""

    n: int
    lines: list[OrderLine]
    counts: dict[str, int]
    keyed: dict[int, int]
    either: int | str
    kind: Literal["a", "b"]
    note: str = ""

    @field_validator("note")
    @classmethod
    def _refuse(cls, value: str) -> str:
        raise ValueError('no "notes" \\ here, é 日本')


def test_validation_error_names_every_error_as_pydantic_reports_it() -> None:
    data = {
        "n": "x",
        "lines": [{}, {"sku": "", "quantity": 0, "unit_price_cents": -1}],
        "counts": {'"q"\\': "x", "é": "y", "": "z"},
        "keyed": {"k": 1, 5: "v"},
        "either": [],
        "kind": "c",
        "note": "n",
    }
    for bad in (data, "not an object"):
        with pytest.raises(ValidationError) as info:
            _Varied.model_validate(bad)
        errors = info.value.errors(include_url=False)
        paths = [format_loc(e["loc"]) for e in errors]
        text = "; ".join(f"{path}: {e['msg']}" for path, e in zip(paths, errors, strict=True))
        error = validation_error("E", 3, info.value)
        assert str(error) == f"E v3: invalid data: {text}"  # as it always was: all of them
        assert error.fields == tuple(paths)
    assert len(errors) == 1  # the last: the whole event
    assert error.fields == ("(event)",)


def test_validation_error_of_many_fields_names_what_fits_and_counts_the_rest() -> None:
    body = {"order_id": "o", "customer_id": "c", "total_cents": 1, "country": "DE"}
    with pytest.raises(ValidationError) as info:  # a 1 MiB body holds 350,000 such lines
        OrderPlaced.model_validate({**body, "lines": [{}] * 100_000})
    count = info.value.error_count()
    assert count == 300_000
    error = validation_error("OrderPlaced", 2, info.value)
    text = str(error)
    named = len(error.fields)
    assert 10 < named < 50
    assert len(text) <= MAX_VALIDATION_CHARS <= MAX_ERROR_CHARS  # the worker keeps all of it
    assert text.startswith("OrderPlaced v2: invalid data: lines[0].sku: Field required; ")
    assert text.endswith(f"; ... and {count - named} more errors")
    assert error.fields[:4] == (
        "lines[0].sku",
        "lines[0].quantity",
        "lines[0].unit_price_cents",
        "lines[1].sku",
    )
    assert all(f"; {field}: Field required; " in text for field in error.fields[1:])


def test_validation_error_of_many_fields_holds_little_memory() -> None:
    with pytest.raises(ValidationError) as info:
        OrderPlaced.model_validate({"lines": [{}] * 20_000})
    assert info.value.error_count() > 60_000
    tracemalloc.start()
    try:
        error = validation_error("OrderPlaced", 2, info.value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "more errors" in str(error)
    # about the errors' JSON text (4.3 MiB); naming every error held 45 MiB
    assert peak < 10 * 2**20, peak


class _Keys(BaseModel):
    counts: dict[str, int]


def _keys_error(*lengths: int) -> str:
    """The text of ``counts`` holding a bad value under a key of each of ``lengths``."""
    with pytest.raises(ValidationError) as info:
        _Keys.model_validate({"counts": {str(i) * n: "x" for i, n in enumerate(lengths)}})
    return str(validation_error("E", 1, info.value))


def test_validation_error_names_whatever_fits_in_its_limit() -> None:
    part = len("counts.: Input should be a valid integer, unable to parse string as an integer")
    room = MAX_VALIDATION_CHARS - len("E v1: invalid data: ") - 2 * part - len("; ")
    assert len(_keys_error(room // 2, room - room // 2)) == MAX_VALIDATION_CHARS  # both, exactly
    assert _keys_error(room // 2, room - room // 2 + 1).endswith("; ... and 1 more error")
    assert _keys_error(room, 1, 1).endswith("parse string as an integer; ... and 2 more errors")
    alone = _keys_error(2 * MAX_VALIDATION_CHARS)  # one error: named whole, the worker cuts it
    assert len(alone) > MAX_VALIDATION_CHARS
    assert "more error" not in alone
    first = _keys_error(2 * MAX_VALIDATION_CHARS, 1)  # the first error is always named
    assert first.startswith("E v1: invalid data: counts.000")
    assert first.endswith("; ... and 1 more error")


def test_parse_current_version(registry: Registry) -> None:
    data = {"order_id": "o", "customer_id": "c", "total_cents": 100, "country": "FR"}
    event = registry.parse("OrderPlaced", 2, data)
    assert event == OrderPlaced(order_id="o", customer_id="c", total_cents=100, country="FR")


def test_parse_upcasts_v1(registry: Registry) -> None:
    v1 = {"order_id": "o", "customer_id": "c", "amount": "1234.56", "country": "DE"}
    event = registry.parse("OrderPlaced", 1, v1)
    assert isinstance(event, OrderPlaced)
    assert event.total_cents == 123456
    assert event.currency == "EUR"
    assert event.lines == []


def test_parse_v1_is_validated_against_the_v1_model(registry: Registry) -> None:
    with pytest.raises(EventValidationError, match=r"OrderPlaced v1: .*amount") as info:
        registry.parse("OrderPlaced", 1, {"order_id": "o", "customer_id": "c", "country": "DE"})
    assert info.value.fields == ("amount",)


def test_upcast_chain_over_several_versions() -> None:
    class V1(BaseModel):
        a: int

    class V2(BaseModel):
        a: int
        b: int

    class V3(BaseModel):
        a: int
        b: int
        c: str

    spec = EventSpec(
        name="E",
        version=3,
        model=V3,
        source="s",
        previous_versions=(
            PreviousVersion(1, V1, lambda d: {**d, "b": d["a"] * 2}),
            PreviousVersion(2, V2, lambda d: {**d, "c": f"{d['a']}-{d['b']}"}),
        ),
    )
    registry = Registry([spec])
    assert registry.parse("E", 1, {"a": 2}) == V3(a=2, b=4, c="2-4")
    assert registry.parse("E", 2, {"a": 1, "b": 7}) == V3(a=1, b=7, c="1-7")


def test_failing_upcaster_is_a_validation_error() -> None:
    class V1(BaseModel):
        a: int

    class V2(BaseModel):
        a: int

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("b")

    spec = EventSpec("E", 2, V2, "s", previous_versions=(PreviousVersion(1, V1, broken),))
    with pytest.raises(EventValidationError, match="upcasting v1 -> v2 failed: KeyError"):
        Registry([spec]).parse("E", 1, {"a": 1})


def test_two_event_types_sharing_a_model_is_refused() -> None:
    specs = [EventSpec("A", 1, LedgerEntry, "s"), EventSpec("B", 1, LedgerEntry, "s")]
    with pytest.raises(SchemaError, match="share the model"):
        Registry(specs)


def test_import_failures_name_event_and_path(tmp_path: Path) -> None:
    mod = _module(
        tmp_path, "from pydantic import BaseModel\nclass E(BaseModel):\n    x: int\nNUMBER = 3\n"
    )
    topology = _topology(
        {
            "Missing": {"model": "no_such_module_xyz:E"},
            "NoAttr": {"model": f"{mod}:Nope"},
            "NotModel": {"model": f"{mod}:NUMBER"},
            "Fine": {"model": f"{mod}:E"},
        }
    )
    with pytest.raises(SchemaError) as info:
        Registry.from_topology(topology, tmp_path)
    text = str(info.value)
    assert "events.Missing.model: cannot import 'no_such_module_xyz:E'" in text
    assert "No module named 'no_such_module_xyz'" in text
    assert f"events.NoAttr.model: cannot import '{mod}:Nope'" in text
    assert "has no attribute 'Nope'" in text
    assert f"events.NotModel.model: '{mod}:NUMBER' is not a pydantic model class" in text
    assert "Fine" not in text


def test_model_found_relative_to_base_dir(tmp_path: Path) -> None:
    mod = _module(tmp_path, "from pydantic import BaseModel\nclass E(BaseModel):\n    x: int\n")
    registry = Registry.from_topology(_topology({"E": {"model": f"{mod}:E"}}), tmp_path)
    assert registry.validate("E", {"x": 3}).model_dump() == {"x": 3}
    assert registry.spec("E").source == "app"


def test_upcaster_must_be_callable_and_versions_older(tmp_path: Path) -> None:
    mod = _module(
        tmp_path,
        "from pydantic import BaseModel\nclass E(BaseModel):\n    x: int\nNOT_CALLABLE = 3\n",
    )
    topology = _topology(
        {
            "E": {
                "model": f"{mod}:E",
                "version": 2,
                "previous_versions": {1: {"model": f"{mod}:E", "upcast": f"{mod}:NOT_CALLABLE"}},
            },
            "F": {
                "model": f"{mod}:E",
                "version": 2,
                "previous_versions": {3: {"model": f"{mod}:E", "upcast": f"{mod}:E"}},
            },
        }
    )
    with pytest.raises(SchemaError) as info:
        Registry.from_topology(topology, tmp_path)
    assert "events.E.previous_versions.1.upcast: " in str(info.value)
    assert "is not callable" in str(info.value)
    assert "events.F.previous_versions.3: must be older than the current version 2" in str(
        info.value
    )


def test_attributes_and_group_id_must_be_fields(tmp_path: Path) -> None:
    mod = _module(tmp_path, "from pydantic import BaseModel\nclass E(BaseModel):\n    x: int\n")
    topology = _topology(
        {
            "A": {"model": f"{mod}:E", "attributes": ["x", "y"]},
            "B": {"model": f"{mod}:E", "message_group_id": "group"},
        }
    )
    with pytest.raises(SchemaError) as info:
        Registry.from_topology(topology, tmp_path)
    assert "events.A.attributes[1]: 'y' is not a field" in str(info.value)
    assert "events.B.message_group_id: 'group' is not a field" in str(info.value)
