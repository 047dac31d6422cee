"""Schema compatibility: each breaking rule is caught and named; additive changes pass."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from bus.errors import SchemaError
from bus.schema import (
    Change,
    EventSpec,
    Registry,
    SchemaKey,
    check_snapshots,
    compare_schemas,
    export_schemas,
    json_schema,
    load_snapshots,
)

KEY = SchemaKey("Evt", 1)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


def diff(old: type[BaseModel], new: type[BaseModel]) -> list[Change]:
    return compare_schemas(KEY, json_schema(KEY, old), json_schema(KEY, new))


def breaking(old: type[BaseModel], new: type[BaseModel]) -> set[tuple[str, str]]:
    return {(c.field, c.rule) for c in diff(old, new) if c.breaking}


def compatible(old: type[BaseModel], new: type[BaseModel]) -> set[tuple[str, str]]:
    changes = diff(old, new)
    assert not [c for c in changes if c.breaking], changes
    return {(c.field, c.rule) for c in changes}


class Base(_Closed):
    order_id: str = Field(min_length=1, max_length=64)
    total: int = Field(ge=0)
    currency: Literal["EUR", "USD"] = "EUR"
    note: str | None = None


def test_identical_models_have_no_changes() -> None:
    assert diff(Base, Base) == []


def test_optional_field_added_is_compatible() -> None:
    class New(Base):
        channel: str = "web"

    assert compatible(Base, New) == {("channel", "optional-field-added")}


def test_required_field_added_is_breaking() -> None:
    class New(Base):
        customer: str

    assert breaking(Base, New) == {("customer", "required-field-added")}


def test_required_field_removed_is_breaking() -> None:
    class New(_Closed):
        total: int = Field(ge=0)
        currency: Literal["EUR", "USD"] = "EUR"
        note: str | None = None

    assert breaking(Base, New) == {("order_id", "required-field-removed")}


def test_rename_is_reported_once_naming_both_fields() -> None:
    class New(_Closed):
        order_ref: str = Field(min_length=1, max_length=64)
        total: int = Field(ge=0)
        currency: Literal["EUR", "USD"] = "EUR"
        note: str | None = None

    [change] = diff(Base, New)
    assert (change.field, change.rule, change.breaking) == ("order_id", "field-renamed", True)
    assert "renamed to 'order_ref'" in str(change)


def test_a_removed_and_an_added_field_of_different_schemas_are_no_rename() -> None:
    class New(_Closed):
        order_ref: int
        total: int = Field(ge=0)
        currency: Literal["EUR", "USD"] = "EUR"
        note: str | None = None

    assert breaking(Base, New) == {
        ("order_id", "required-field-removed"),
        ("order_ref", "required-field-added"),
    }


def test_an_optional_field_of_an_open_model_that_may_be_renamed_is_named_not_breaking() -> None:
    # As the removal alone would be: the same generic schema (``str | None = None``) may just as
    # well be an unrelated field that came while another went.
    class Old(BaseModel):
        a: int
        note: str | None = None

    class New(BaseModel):
        a: int
        remark: str | None = None

    assert [(c.field, c.rule, c.breaking) for c in diff(Old, New)] == [
        ("note", "field-renamed", False)
    ]
    assert "possibly renamed to 'remark'" in str(diff(Old, New)[0])


def test_renaming_an_optional_field_of_a_closed_model_is_breaking() -> None:
    class Old(_Closed):
        a: int
        note: str | None = None

    class New(_Closed):
        a: int
        remark: str | None = None

    assert [(c.field, c.rule, c.breaking) for c in diff(Old, New)] == [
        ("note", "field-renamed", True)
    ]


def test_widening_a_literal_with_a_value_of_another_type_is_compatible() -> None:
    class Old(BaseModel):
        level: Literal[1, 2]
        kind: Literal["a", "b"] | None = None

    class New(BaseModel):
        level: Literal[1, 2, "x"]
        kind: Literal["a", "b", 1] | None = None

    assert not [c for c in diff(Old, New) if c.breaking]


def test_renames_in_nested_models_name_both_paths() -> None:
    class LineOld(_Closed):
        sku: str
        qty: int

    class LineNew(_Closed):
        article: str
        qty: int

    class Old(_Closed):
        lines: list[LineOld]

    class New(_Closed):
        lines: list[LineNew]

    [change] = diff(Old, New)
    assert (change.field, change.rule) == ("lines[].sku", "field-renamed")
    assert "renamed to 'lines[].article'" in change.detail


def test_optional_field_removed_breaks_a_closed_model_only() -> None:
    class New(_Closed):
        order_id: str = Field(min_length=1, max_length=64)
        total: int = Field(ge=0)
        currency: Literal["EUR", "USD"] = "EUR"

    assert breaking(Base, New) == {("note", "field-removed")}

    class OpenOld(BaseModel):
        a: int
        b: int | None = None

    class OpenNew(BaseModel):
        a: int

    assert compatible(OpenOld, OpenNew) == {("b", "field-removed")}


def test_type_changed_is_breaking() -> None:
    class New(_Closed):
        order_id: int
        total: int = Field(ge=0)
        currency: Literal["EUR", "USD"] = "EUR"
        note: str | None = None

    changes = [c for c in diff(Base, New) if c.breaking]
    assert [(c.field, c.rule) for c in changes] == [("order_id", "type-changed")]
    assert "from string to integer" in changes[0].detail


def test_number_to_integer_is_a_type_change_and_dropping_null_a_narrowing() -> None:
    class Old(_Closed):
        amount: float
        note: str | None = None

    class New(_Closed):
        amount: int
        note: str = ""

    assert breaking(Old, New) == {("amount", "type-changed"), ("note", "type-narrowed")}


def test_type_widened_is_compatible() -> None:
    class Old(_Closed):
        amount: int
        note: str

    class New(_Closed):
        amount: float
        note: str | None

    assert compatible(Old, New) == {("amount", "type-widened"), ("note", "type-widened")}


def test_enum_value_removed_is_breaking_and_widening_is_not() -> None:
    class Fewer(_Closed):
        currency: Literal["EUR"] = "EUR"

    class Some(_Closed):
        currency: Literal["EUR", "USD"] = "EUR"

    class More(_Closed):
        currency: Literal["EUR", "USD", "GBP"] = "EUR"

    assert breaking(Some, Fewer) == {("currency", "enum-value-removed")}
    assert compatible(Some, More) == {("currency", "enum-widened")}
    assert "'USD' removed" in str(diff(Some, Fewer)[0])


@pytest.mark.parametrize(
    ("old_field", "new_field"),
    [
        (Field(ge=0), Field(ge=1)),
        (Field(ge=0), Field(gt=0)),
        (Field(), Field(le=100)),
        (Field(le=100), Field(lt=100)),
        (Field(multiple_of=2), Field(multiple_of=4)),
    ],
)
def test_numeric_constraints_tightened(old_field: object, new_field: object) -> None:
    Old = type("Old", (_Closed,), {"__annotations__": {"n": int}, "n": old_field})
    New = type("New", (_Closed,), {"__annotations__": {"n": int}, "n": new_field})
    assert breaking(Old, New) == {("n", "constraint-tightened")}
    assert not breaking(New, Old)


def test_string_constraints_tightened_and_relaxed() -> None:
    class Old(_Closed):
        code: str = Field(min_length=1, max_length=10)

    class Shorter(_Closed):
        code: str = Field(min_length=2, max_length=5, pattern=r"^[A-Z]+$")

    changes = [c for c in diff(Old, Shorter) if c.breaking]
    assert {c.rule for c in changes} == {"constraint-tightened"}
    assert len(changes) == 3
    assert compatible(Shorter, Old) == {("code", "constraint-relaxed")}


def test_became_required_is_breaking_and_optional_is_not() -> None:
    class Old(_Closed):
        a: int = 0

    class New(_Closed):
        a: int

    assert breaking(Old, New) == {("a", "field-became-required")}
    assert compatible(New, Old) == {("a", "field-became-optional")}


def test_nested_models_and_lists_are_compared_with_paths() -> None:
    class LineOld(_Closed):
        sku: str
        qty: int = Field(ge=1)

    class LineNew(_Closed):
        sku: str
        qty: int = Field(ge=1, le=10)
        gift: bool

    class Old(_Closed):
        lines: list[LineOld]

    class New(_Closed):
        lines: list[LineNew] = Field(max_length=5)

    assert breaking(Old, New) == {
        ("lines", "constraint-tightened"),
        ("lines[].qty", "constraint-tightened"),
        ("lines[].gift", "required-field-added"),
    }


def test_tuple_positions_are_compared_one_by_one() -> None:
    class Old(_Closed):
        pair: tuple[int, int]

    class Changed(_Closed):
        pair: tuple[int, str]

    class Wider(_Closed):
        pair: tuple[int, float]

    class Longer(_Closed):
        pair: tuple[int, int, int]

    class AnyLength(_Closed):
        pair: list[int]

    assert breaking(Old, Changed) == {("pair[1]", "type-changed")}
    assert compatible(Old, Wider) == {("pair[1]", "type-widened")}
    assert ("pair", "type-changed") in breaking(Old, Longer)
    assert "a tuple of 2 items became a tuple of 3 items" in str(diff(Old, Longer))
    assert not breaking(Old, AnyLength)
    assert ("pair", "type-changed") in breaking(AnyLength, Old)
    assert "a list became a tuple of 2 items" in str(diff(AnyLength, Old))
    assert diff(Old, Old) == []


def test_bare_values_of_several_types_are_checked_against_the_new_type() -> None:
    class Mixed(_Closed):
        x: Literal["a", 1]

    class Integer(_Closed):
        x: int

    class IntOrStr(_Closed):
        x: int | str

    class MoreValues(_Closed):
        x: Literal["a", 1, 2]

    class FewerValues(_Closed):
        x: Literal["a"]

    class Numbers(_Closed):
        x: Literal[1, 2]

    changes = [c for c in diff(Mixed, Integer) if c.breaking]
    assert [(c.field, c.rule) for c in changes] == [("x", "type-narrowed")]
    assert "no longer accepts one of ['a']" in changes[0].detail
    assert not breaking(Mixed, IntOrStr)
    assert compatible(Mixed, MoreValues) == {("x", "enum-widened")}
    assert breaking(Mixed, FewerValues) == {("x", "type-narrowed")}
    assert not breaking(Numbers, Integer)


def test_extra_fields_forbidden_is_tightening() -> None:
    class Open(BaseModel):
        a: int

    class Closed(_Closed):
        a: int

    assert breaking(Open, Closed) == {("", "constraint-tightened")}


def test_recursive_models_terminate() -> None:
    class Node(_Closed):
        name: str
        children: list[Node] = []

    class Node2(_Closed):
        name: str
        children: list[Node2] = []

    assert diff(Node, Node2) == []


class EvtV1(_Closed):
    a: int


class EvtV2(_Closed):
    a: int
    b: str = ""


def test_check_snapshots_detects_changes_per_version(tmp_path: Path) -> None:
    before = Registry([EventSpec("Evt", 1, EvtV1, "s")])
    export_schemas(before, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["Evt.v1.json"]
    assert check_snapshots(before, tmp_path) == []

    class Changed(_Closed):
        a: str

    changes = check_snapshots(Registry([EventSpec("Evt", 1, Changed, "s")]), tmp_path)
    assert [(c.event, c.version, c.field, c.rule) for c in changes] == [
        ("Evt", 1, "a", "type-changed")
    ]
    assert str(changes[0]).startswith("Evt v1: field 'a': type changed from integer to string")


def test_new_and_removed_versions(tmp_path: Path) -> None:
    export_schemas(Registry([EventSpec("Evt", 1, EvtV1, "s")]), tmp_path)
    export_schemas(Registry([EventSpec("Gone", 1, EvtV2, "s")]), tmp_path)
    changes = check_snapshots(Registry([EventSpec("Evt", 2, EvtV2, "s")]), tmp_path)
    rules = {(c.event, c.version, c.rule, c.breaking) for c in changes}
    assert rules == {
        ("Evt", 1, "version-removed", True),
        ("Gone", 1, "version-removed", True),
        ("Evt", 2, "new-version", False),
    }


def test_snapshot_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no schema snapshot"):
        load_snapshots(tmp_path / "missing")
    (tmp_path / "Evt.v1.json").write_text("{not json")
    with pytest.raises(SchemaError, match=r"Evt\.v1\.json: not a JSON schema"):
        load_snapshots(tmp_path)
    (tmp_path / "Evt.v1.json").unlink()
    (tmp_path / "random.json").write_text("{}")
    with pytest.raises(SchemaError, match=r"random\.json: snapshot files are named"):
        load_snapshots(tmp_path)


def test_exporting_where_a_file_is_names_it(tmp_path: Path) -> None:
    taken = tmp_path / "snapshots"
    taken.write_text("a file, not a folder")
    with pytest.raises(SchemaError, match=f"cannot write the schemas into {taken}: File exists"):
        export_schemas(Registry([EventSpec("Evt", 1, EvtV1, "s")]), taken)
