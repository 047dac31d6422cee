"""Preparation is where every publish error is found, before any AWS call."""

from __future__ import annotations

import enum
import json
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from bus.aws.limits import SQS_INVALID_TEXT
from bus.envelope import attributes_size, decode
from bus.envelope.attributes import routing_attributes
from bus.errors import EventValidationError, MessageTooLargeError, UnknownEventError
from bus.publish.prepare import Channel, FlowContext, _escape_refused, channel_of, prepare
from bus.schema import EventSpec, Registry
from bus.topology.load import load_topology
from bus.topology.model import Destination
from schemas.orders import LedgerEntry, OrderPlaced

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology(ROOT / "topology.yaml")
REGISTRY = Registry.from_topology(TOPOLOGY, ROOT)
ORDERS = Channel("topic", "orders")


def order(**changes: object) -> OrderPlaced:
    data: dict[str, object] = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "total_cents": 100,
        "country": "DE",
    }
    return OrderPlaced(**{**data, **changes})  # type: ignore[arg-type]


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_prepared_body_is_a_decodable_envelope_with_context() -> None:
    spec = REGISTRY.spec("OrderPlaced")
    item = prepare(0, spec, order(), (ORDERS,), FlowContext("corr", "cause", TRACEPARENT))
    decoded = decode(item.body, item.attributes)
    env = decoded.envelope
    assert env.id == item.id
    assert (env.type, env.version, env.source) == ("OrderPlaced", 2, "shop")
    assert (env.correlation_id, env.causation_id, env.traceparent) == ("corr", "cause", TRACEPARENT)
    assert env.data == order().model_dump(mode="json")
    assert item.body_bytes == len(item.body.encode())
    assert item.group_id is None


def test_a_new_flow_is_correlated_by_its_own_id() -> None:
    item = prepare(0, REGISTRY.spec("OrderPlaced"), order(), (ORDERS,), FlowContext())
    body = json.loads(item.body)
    assert body["correlationid"] == body["id"] == item.id
    assert "causationid" not in body
    assert "traceparent" not in body


def test_invalid_instance_is_refused_naming_the_field() -> None:
    bad = OrderPlaced.model_construct(
        order_id="o", customer_id="c", total_cents=-1, country="de", currency="EUR", lines=[]
    )
    with pytest.raises(EventValidationError) as info:
        prepare(0, REGISTRY.spec("OrderPlaced"), bad, (ORDERS,), FlowContext())
    assert set(info.value.fields) == {"total_cents", "country"}


def test_mutated_model_is_revalidated() -> None:
    class Loose(BaseModel):
        n: int

    event = Loose(n=1)
    event.n = "not a number"  # type: ignore[assignment]
    spec = EventSpec("Loose", 1, Loose, "s")
    with pytest.raises(EventValidationError, match="n: Input should be a valid integer"):
        prepare(0, spec, event, (ORDERS,), FlowContext())


def test_no_destination_is_an_error() -> None:
    spec = EventSpec("Lonely", 1, OrderPlaced, "s")
    with pytest.raises(UnknownEventError, match="Lonely has no destination"):
        prepare(0, spec, order(), (), FlowContext())


def test_fifo_group_id_comes_from_the_declared_field() -> None:
    spec = REGISTRY.spec("LedgerEntry")
    fifo = channel_of(spec.destinations[0], TOPOLOGY)
    assert fifo == Channel("topic", "ledger.fifo", fifo=True)
    item = prepare(
        0, spec, LedgerEntry(account_id="acc-9", sequence=1, amount_cents=5), (fifo,), FlowContext()
    )
    assert item.group_id == "acc-9"


def test_fifo_without_group_field_is_refused() -> None:
    spec = EventSpec("NoGroup", 1, LedgerEntry, "s")
    fifo = Channel("queue", "ledger.fifo", fifo=True)
    with pytest.raises(UnknownEventError, match="declares no message_group_id"):
        prepare(
            0, spec, LedgerEntry(account_id="a", sequence=1, amount_cents=1), (fifo,), FlowContext()
        )


def test_oversized_event_is_refused_before_sending() -> None:
    class Big(BaseModel):
        blob: str

    spec = EventSpec("Big", 1, Big, "s")
    with pytest.raises(MessageTooLargeError, match=r"over the 262144-byte limit of topic:orders"):
        prepare(0, spec, Big(blob="x" * 262_000), (ORDERS,), FlowContext())
    small_queue = Channel("queue", "q", limit=2_048)
    with pytest.raises(MessageTooLargeError, match="2048-byte limit of queue:q"):
        prepare(0, spec, Big(blob="x" * 2_000), (small_queue,), FlowContext())


def test_eventbridge_size_counts_source_and_detail_type() -> None:
    class Big(BaseModel):
        blob: str

    spec = EventSpec("Big", 1, Big, "s" * 200)
    overhead = len(prepare(0, spec, Big(blob=""), (Channel("bus", "b"),), FlowContext()).body)
    fits = 262_144 - 14 - 200 - 3 - overhead
    prepare(0, spec, Big(blob="x" * fits), (Channel("bus", "b"),), FlowContext())
    with pytest.raises(MessageTooLargeError, match="limit of bus:b"):
        prepare(0, spec, Big(blob="x" * (fits + 1)), (Channel("bus", "b"),), FlowContext())


def test_queue_channel_uses_the_queue_maximum_message_size() -> None:
    tiny = TOPOLOGY.queues["billing"].model_copy(update={"maximum_message_size": 4096})
    topology = TOPOLOGY.model_copy(update={"queues": {**TOPOLOGY.queues, "tiny": tiny}})
    assert channel_of(Destination(queue="tiny"), topology).limit == 4096
    assert channel_of(Destination(bus="shop-events"), topology) == Channel("bus", "shop-events")


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Exposed(BaseModel):
    text: str | None
    count: int
    flag: bool
    ratio: float
    colour: Colour
    tags: list[str]
    price: Decimal | None


EXPOSED = EventSpec(
    "Exposed",
    3,
    Exposed,
    "s",
    attributes=("text", "count", "flag", "ratio", "colour", "tags", "price"),
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(
    lambda t: SQS_INVALID_TEXT.search(t) is None  # refused: test_a_refused_character_...
)


@given(
    text=st.none() | TEXT,
    count=st.integers(min_value=-(2**40), max_value=2**40),
    flag=st.booleans(),
    ratio=st.floats(allow_nan=False, allow_infinity=False, width=32),
    colour=st.sampled_from(Colour),
    tags=st.lists(TEXT, max_size=3),
    price=st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=2),
)
def test_attributes_are_the_routing_attributes_and_their_size(**fields: object) -> None:
    event = Exposed(**fields)  # type: ignore[arg-type]
    item = prepare(0, EXPOSED, event, (ORDERS,), FlowContext())
    assert item.attributes == routing_attributes(EXPOSED, "Exposed", 3, event)
    assert item.attributes_bytes == attributes_size(item.attributes)
    assert item.body_bytes == len(item.body.encode())
    assert item.entry_size(ORDERS) == item.body_bytes + item.attributes_bytes
    bus = Channel("bus", "b")
    assert item.entry_size(bus) == 14 + len(b"s") + len(b"Exposed") + item.body_bytes


class Grouped(BaseModel):
    group: str


GROUPED = EventSpec("Grouped", 1, Grouped, "s", message_group_id="group")
FIFO = Channel("queue", "ledger.fifo", fifo=True)


@pytest.mark.parametrize("group", ["", "acc 1", "konto-ü", "tab\there", "new\nline", "x" * 129])
def test_fifo_group_id_must_be_what_aws_allows(group: str) -> None:
    with pytest.raises(EventValidationError, match="FIFO message group id") as info:
        prepare(0, GROUPED, Grouped(group=group), (FIFO,), FlowContext())
    assert info.value.fields == ("group",)
    assert "letter, digit or punctuation" in str(info.value)


def test_fifo_group_id_takes_letters_digits_and_every_punctuation_mark() -> None:
    for group in ("a", "Z9", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "x" * 128):
        assert prepare(0, GROUPED, Grouped(group=group), (FIFO,), FlowContext()).group_id == group


@pytest.mark.parametrize(
    "traceparent",
    [
        "not a traceparent",
        "00-t-p-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper-case hex
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has 4 fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # a digit short
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 457,  # over 512
    ],
)
def test_a_traceparent_must_be_w3c_trace_context(traceparent: str) -> None:
    spec = REGISTRY.spec("OrderPlaced")
    with pytest.raises(EventValidationError, match="traceparent must be W3C Trace Context") as info:
        prepare(0, spec, order(), (ORDERS,), FlowContext(traceparent=traceparent))
    assert info.value.fields == ("traceparent",)
    assert len(str(info.value)) < 400  # a long one is shown cut, with its length


def test_valid_traceparents_pass_a_later_version_may_carry_more() -> None:
    spec = REGISTRY.spec("OrderPlaced")
    longest = "01" + TRACEPARENT[2:] + "-" + "x" * 456  # 512 characters: as consumers read it
    for traceparent in (
        TRACEPARENT,
        TRACEPARENT[:-2] + "00",
        "01" + TRACEPARENT[2:] + "-more",
        longest,
    ):
        item = prepare(0, spec, order(), (ORDERS,), FlowContext(traceparent=traceparent))
        assert json.loads(item.body)["traceparent"] == traceparent


@pytest.mark.parametrize(
    ("field", "context"),
    [
        ("traceparent", FlowContext(traceparent="\ud800")),
        ("correlation_id", FlowContext(correlation_id="flow-\udcff")),
        ("causation_id", FlowContext(causation_id="\udfff")),
    ],
)
def test_a_lone_surrogate_in_the_flow_metadata_is_a_validation_error(
    field: str, context: FlowContext
) -> None:
    spec = REGISTRY.spec("OrderPlaced")
    with pytest.raises(EventValidationError, match="lone surrogate") as info:
        prepare(0, spec, order(), (ORDERS,), context)
    assert info.value.fields == (field,)
    assert f"{field} is not valid text" in str(info.value)


async def test_publish_many_refuses_each_event_of_a_call_with_bad_flow_metadata() -> None:
    from tests.publish.scripted import ScriptedPublisher

    publisher = ScriptedPublisher()
    results = await publisher.publish_many([order(), order()], correlation_id="\ud800")
    assert [type(r.error) for r in results] == [EventValidationError] * 2
    assert [r.error.fields for r in results if r.error] == [("correlation_id",)] * 2
    assert publisher.resolved == []  # nothing was sent
    with pytest.raises(EventValidationError, match="traceparent"):
        await publisher.publish(order(), traceparent="not a traceparent")
    assert publisher.resolved == []


def test_a_prepared_event_takes_a_later_trace_context_and_keeps_everything_else() -> None:
    spec = REGISTRY.spec("OrderPlaced")
    item = prepare(0, spec, order(), (ORDERS,), FlowContext("corr", "cause", None))
    assert item.traced(None) is item
    later = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    traced = item.traced(later)
    assert traced.traced(later) is traced  # already there: unchanged
    before, after = decode(item.body), decode(traced.body)
    assert after.envelope.traceparent == later
    assert after.envelope.id == before.envelope.id == traced.id
    assert (after.envelope.correlation_id, after.envelope.causation_id) == ("corr", "cause")
    assert after.envelope.data == before.envelope.data
    assert traced.body_bytes == len(traced.body.encode())
    assert traced.eventbridge_bytes - item.eventbridge_bytes == traced.body_bytes - item.body_bytes
    assert (traced.attributes, traced.group_id, traced.time) == (
        item.attributes, item.group_id, item.time,
    )  # fmt: skip


@given(st.text())
def test_characters_sqs_refuses_are_escaped_and_the_json_means_the_same(text: str) -> None:
    data_json = json.dumps({"blob": text, "k": [text]}, ensure_ascii=False)
    escaped = _escape_refused(data_json)
    assert SQS_INVALID_TEXT.search(escaped) is None
    assert json.loads(escaped) == json.loads(data_json)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"text": "a\x00b"}, "U+0000 at position 1"),
        ({"text": "ok", "tags": ["x", "\uffff"]}, "U+FFFF at position 7"),
        ({"text": "\ufffe"}, "U+FFFE at position 0"),
    ],
)
def test_a_refused_character_in_an_attribute_refuses_the_event_naming_the_field(
    fields: dict[str, object], where: str
) -> None:
    """SQS takes XML characters only: SNS would hand the attribute on and lose the delivery."""
    base: dict[str, object] = {
        "text": None,
        "count": 1,
        "flag": True,
        "ratio": 0.5,
        "colour": Colour.RED,
        "tags": [],
        "price": None,
    }
    event = Exposed(**{**base, **fields})  # type: ignore[arg-type]
    with pytest.raises(EventValidationError) as caught:
        prepare(0, EXPOSED, event, (ORDERS,), FlowContext())
    name = "tags" if fields.get("tags") else "text"
    assert caught.value.fields == (name,)
    assert f"attribute {name!r}" in str(caught.value)
    assert where in str(caught.value)


def test_tabs_newlines_and_astral_characters_are_attribute_text() -> None:
    event = Exposed(
        text="a\tb\nc\rd \U0001f600 é",
        count=1,
        flag=False,
        ratio=1.0,
        colour=Colour.RED,
        tags=["\n"],
        price=None,
    )
    item = prepare(0, EXPOSED, event, (ORDERS,), FlowContext())
    assert item.attributes["text"]["StringValue"] == "a\tb\nc\rd \U0001f600 é"


@pytest.mark.parametrize(
    ("fields", "name", "why"),
    [
        (
            {"count": 10**38 + 1},
            "count",
            "39 significant digits; a Number attribute takes at most 38",
        ),
        ({"count": -(10**127)}, "count", "outside what a Number attribute takes"),
        ({"ratio": 1e-129}, "ratio", "1e-129 is outside what a Number attribute takes"),
        ({"ratio": 2.5e200}, "ratio", "2.5e+200 is outside"),
        ({"price": Decimal("1.0000000000000000000000000000000000001E126")}, "price", "outside"),
        ({"price": Decimal("0." + "1" * 39)}, "price", "39 significant digits"),
    ],
)
def test_a_number_sqs_and_sns_do_not_take_refuses_the_event_naming_the_field(
    fields: dict[str, object], name: str, why: str
) -> None:
    """SQS and SNS take Number attributes of up to 38 significant digits, 10^-128 to 10^126 in
    magnitude: AWS would refuse the whole publish (or SNS the delivery to a raw subscriber)."""
    base: dict[str, object] = {
        "text": None, "count": 1, "flag": True, "ratio": 0.5, "colour": Colour.RED, "tags": [],
        "price": None,
    }  # fmt: skip
    event = Exposed(**{**base, **fields})  # type: ignore[arg-type]
    with pytest.raises(EventValidationError) as caught:
        prepare(0, EXPOSED, event, (ORDERS,), FlowContext())
    assert caught.value.fields == (name,)
    assert f"attribute {name!r}" in str(caught.value)
    assert why in str(caught.value)


def test_numbers_at_the_edges_of_what_sqs_and_sns_take_are_attributes() -> None:
    """Trailing zeros are not significant (AWS trims them); zero has no magnitude to bound."""
    event = Exposed(
        text=None,
        count=10**126,
        flag=True,
        ratio=1e-128,
        colour=Colour.RED,
        tags=[],
        price=Decimal("-" + "9" * 38),
    )
    attributes = prepare(0, EXPOSED, event, (ORDERS,), FlowContext()).attributes
    assert attributes["count"] == {"DataType": "Number", "StringValue": str(10**126)}
    assert attributes["ratio"]["StringValue"] == "1e-128"
    assert attributes["price"]["StringValue"] == "-" + "9" * 38
    for zero in (0, -0.0, Decimal("0E-300")):
        assert prepare(0, EXPOSED, event.model_copy(update={"ratio": zero}), (ORDERS,),
                       FlowContext()).attributes["ratio"]["DataType"] == "Number"  # fmt: skip


@example(1e126)
@example(math.nextafter(1e126, math.inf))
@example(math.nextafter(1e126, 0))
@example(1e-128)
@example(math.nextafter(1e-128, 0))
@example(-1e-128)
@example(10**38)
@example(10**38 - 1)
@example(-(10**38))
@example(10**126)
@example(10**126 + 10**88)
@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
)
def test_the_fast_paths_for_floats_and_ints_agree_with_the_exact_check(value: object) -> None:
    """``attribute`` takes most floats, and ``prepare`` most ints, without the exact decimal
    check: each takes exactly what the check takes."""
    from bus.envelope.attributes import _check_number, attribute
    from bus.publish.prepare import _exposed_attribute

    try:
        _check_number(str(value))
        expected = True
    except ValueError:
        expected = False
    for convert in (attribute, lambda v: _exposed_attribute(EXPOSED, "count", v)):
        try:
            convert(value)
            taken = True
        except (ValueError, EventValidationError):
            taken = False
        assert taken == expected
