"""Publishing against LocalStack: routing, envelope, attributes, filters, batches, FIFO, errors."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
import structlog
from pydantic import BaseModel

from bus.aws.encoding import LightSerializer
from bus.errors import EventValidationError, PublishError, UnknownEventError
from bus.publish import Publisher
from bus.schema import EventSpec, Registry
from bus.topology.model import Destination
from schemas.orders import LedgerEntry, OrderPlaced, OrderShipped, PaymentCaptured, PaymentFailed
from tests.publish.conftest import ROOT, Shop, decoded, marker

pytestmark = pytest.mark.aws


def order(order_id: str, total_cents: int = 125_000, country: str = "DE") -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        customer_id="c-1",
        total_cents=total_cents,
        currency="EUR",
        country=country,
    )


async def test_order_reaches_every_subscribed_queue_with_envelope_and_attributes(
    shop: Shop,
) -> None:
    oid = marker()
    result = await shop.publisher.publish(
        order(oid), traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    assert result.ok
    assert [d.destination for d in result.deliveries] == ["topic:orders", "bus:shop-events"]
    assert all(d.message_id for d in result.deliveries)

    billing = await shop.read("billing", lambda r: oid in r.messages)
    [message] = billing.messages[oid]
    body = json.loads(message["Body"])
    assert body == {
        "specversion": "1.0",
        "id": result.event_id,
        "source": "shop",
        "type": "OrderPlaced",
        "time": body["time"],
        "datacontenttype": "application/json",
        "eventversion": 2,
        "correlationid": result.event_id,
        "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "data": order(oid).model_dump(mode="json"),
    }
    assert message["MessageAttributes"] == {
        "event_type": {"StringValue": "OrderPlaced", "DataType": "String"},
        "event_version": {"StringValue": "2", "DataType": "Number"},
        "country": {"StringValue": "DE", "DataType": "String"},
        "currency": {"StringValue": "EUR", "DataType": "String"},
        "total_cents": {"StringValue": "125000", "DataType": "Number"},
    }

    fraud = await shop.read("fraud-review", lambda r: oid in r.messages)
    [event] = fraud.messages[oid]
    outer = json.loads(event["Body"])
    assert outer["source"] == "shop"
    assert outer["detail-type"] == "OrderPlaced"
    assert outer["detail"] == body  # the same envelope on every route
    assert decoded(event).route == "eventbridge"


async def test_filter_policies_route_by_type_and_exposed_fields(shop: Shop) -> None:
    german_small, french_big = marker(), marker()
    captured, shipped, failed = marker(), marker(), marker()
    await shop.publisher.publish_many(
        [
            order(german_small, total_cents=5_000, country="DE"),
            order(french_big, total_cents=250_000, country="FR"),
            PaymentCaptured(order_id=captured, payment_id="p", amount_cents=1),
            OrderShipped(order_id=shipped, carrier="dhl", tracking_number="t"),
            PaymentFailed(order_id=failed, reason="declined"),
        ],
        check=True,
    )
    every = {german_small, french_big, captured, shipped, failed}
    expected = {
        "billing": {german_small, french_big},  # event_type = OrderPlaced
        "shipping": {captured},  # event_type = PaymentCaptured
        "notifications": {shipped, failed},  # body: type in [OrderShipped, PaymentFailed]
        "german-orders": {german_small},  # country = DE
        "big-orders": {french_big},  # total_cents >= 100000
        "fraud-review": {french_big},  # EventBridge rule: detail.data.total_cents >= 100000
    }
    for queue, wanted in expected.items():
        got = await shop.read(queue, lambda r, w=wanted: w <= set(r.messages))  # type: ignore[misc]
        assert set(got.messages) & every == wanted, queue
    # Stragglers: after the wanted ones arrived, nothing else of this test shows up.
    late = await asyncio.gather(*(shop.read(q, lambda r: False, within=1.0) for q in expected))
    for queue, got in zip(expected, late, strict=True):
        assert not set(got.messages) & every, queue


async def test_notifications_get_the_sns_envelope_and_decode(shop: Shop) -> None:
    oid = marker()
    result = await shop.publisher.publish(
        OrderShipped(order_id=oid, carrier="ups", tracking_number="1z")
    )
    got = await shop.read("notifications", lambda r: oid in r.messages)
    [message] = got.messages[oid]
    note = json.loads(message["Body"])
    assert note["Type"] == "Notification"
    assert note["MessageId"] == result.deliveries[0].message_id
    assert note["MessageAttributes"]["event_type"] == {"Type": "String", "Value": "OrderShipped"}
    assert decoded(message).route == "sns"
    event = shop.registry.parse("OrderShipped", 1, decoded(message).envelope.data)
    assert event == OrderShipped(order_id=oid, carrier="ups", tracking_number="1z")


async def test_invalid_event_sends_nothing(shop: Shop) -> None:
    bad_id, barrier = marker(), marker()
    bad = OrderPlaced.model_construct(**{**order(bad_id).model_dump(), "total_cents": -1})
    with pytest.raises(EventValidationError) as info:
        await shop.publisher.publish(bad)
    assert info.value.fields == ("total_cents",)
    # A valid event published afterwards arrives; the invalid one never does, anywhere.
    await shop.publisher.publish(order(barrier))
    for queue in ("billing", "fraud-review", "german-orders", "big-orders"):
        got = await shop.read(queue, lambda r: barrier in r.messages)
        assert barrier in got.messages, queue
        assert bad_id not in got.messages, queue


async def test_batch_with_one_bad_entry_reports_it_and_delivers_the_rest(shop: Shop) -> None:
    ids = [marker() for _ in range(12)]
    events = [order(i, total_cents=1_000) for i in ids]
    events[5] = OrderPlaced.model_construct(**{**events[5].model_dump(), "country": "Germany"})
    results = await shop.publisher.publish_many(events)
    assert [r.index for r in results] == list(range(12))
    assert [r.ok for r in results].count(False) == 1
    assert isinstance(results[5].error, EventValidationError)
    assert results[5].error.fields == ("country",)
    assert results[5].deliveries == ()
    good = set(ids) - {ids[5]}
    got = await shop.read("billing", lambda r: good <= set(r.messages))
    assert set(got.messages) & set(ids) == good
    assert all(len(got.messages[i]) == 1 for i in good)


async def test_fifo_group_and_deduplication_ids_and_order(shop: Shop) -> None:
    account = marker("acct")
    entries = [LedgerEntry(account_id=account, sequence=n, amount_cents=n) for n in range(25)]
    results = await shop.publisher.publish_many(entries, check=True)
    got = await shop.read(
        "ledger.fifo", lambda r: len(r.messages.get(account, [])) >= 25, key="account_id"
    )
    messages = got.messages[account]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["data"]["sequence"] for b in bodies] == list(range(25))
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {account}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [
        r.event_id for r in results
    ]


async def test_aws_errors_carry_the_code(shop: Shop) -> None:
    missing = Publisher(shop.aws, shop.registry, shop.topology, "nope" + uuid.uuid4().hex[:6])
    with pytest.raises(PublishError) as info:
        await missing.publish(PaymentFailed(order_id="o", reason="r"))
    assert info.value.code == "NotFound"
    results = await missing.publish_many([PaymentFailed(order_id="o", reason="r")])
    assert results[0].deliveries[0].error_code == "NotFound"
    assert not results[0].ok


async def test_unknown_model_is_refused_before_any_call(shop: Shop) -> None:
    from pydantic import BaseModel

    class Stray(BaseModel):
        x: int

    with pytest.raises(UnknownEventError, match="not the model of any event type"):
        await shop.publisher.publish(Stray(x=1))


def _cli(*argv: str) -> int:
    from bus.cli import main

    try:
        main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        structlog.reset_defaults()  # the CLI configured logging onto capsys's streams
    return 0


async def test_bus_publish_prints_message_ids(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = marker()
    data = {"order_id": oid, "customer_id": "c", "total_cents": 10, "country": "DE"}
    args = [
        "publish",
        "OrderPlaced",
        "--data",
        json.dumps(data),
        "--count",
        "3",
        "-t",
        str(ROOT / "topology.yaml"),
        "--env",
        shop.env,
        "--endpoint-url",
        str(shop.settings.endpoint_url),
        "--region",
        str(shop.settings.region),
    ]
    assert await asyncio.to_thread(_cli, *args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6  # 3 events x (topic:orders, bus:shop-events)
    assert {line.split()[1] for line in lines} == {"topic:orders", "bus:shop-events"}
    assert len({line.split()[0] for line in lines}) == 3
    got = await shop.read("billing", lambda r: len(r.messages.get(oid, [])) >= 3)
    ids = {json.loads(m["Body"])["id"] for m in got.messages[oid]}
    assert ids == {line.split()[0] for line in lines}


async def test_publisher_open_loads_the_topology_file(shop: Shop) -> None:
    settings = shop.settings.model_copy(
        update={"env": shop.env, "topology_path": ROOT / "topology.yaml"}
    )
    oid = marker()
    async with Publisher.open(settings) as publisher:
        result = await publisher.publish(
            PaymentCaptured(order_id=oid, payment_id="p", amount_cents=5)
        )
    assert result.ok
    got = await shop.read("shipping", lambda r: oid in r.messages)
    assert len(got.messages[oid]) == 1


async def test_awkward_characters_survive_the_sns_form_encoding(shop: Shop) -> None:
    oid = marker()
    customer = "Zoë & Ünal = 100% + tax? #1 / ü"
    bodies: list[str] = []

    def after_encoding(request: object, **_: object) -> None:
        bodies.append(type(request.data).__name__)  # type: ignore[attr-defined]

    # A second handler after bus's own: it sees the body already encoded, once.
    shop.aws.sns.meta.events.register("before-sign.sns", after_encoding, unique_id=oid)
    try:
        await shop.publisher.publish(order(oid).model_copy(update={"customer_id": customer}))
    finally:
        shop.aws.sns.meta.events.unregister("before-sign.sns", unique_id=oid)
    assert bodies == ["str"]
    # serialised by bus (bus.aws.encoding), not through botocore's shape walks
    assert isinstance(shop.aws.sns._serializer, LightSerializer)  # type: ignore[attr-defined]
    got = await shop.read("german-orders", lambda r: oid in r.messages)
    [message] = got.messages[oid]
    assert decoded(message).envelope.data["customer_id"] == customer
    assert message["MessageAttributes"]["country"]["StringValue"] == "DE"


async def test_a_large_stream_arrives_once_each_with_its_bad_entries_refused(shop: Shop) -> None:
    ids = [marker() for _ in range(150)]
    bad = set(range(7, 150, 37))

    def events() -> Iterator[OrderPlaced]:
        for n, oid in enumerate(ids):
            if n in bad:
                yield OrderPlaced.model_construct(**{**order(oid).model_dump(), "country": "xx"})
            else:
                yield order(oid, total_cents=1_000)

    results = await shop.publisher.publish_many(events())
    assert [r.index for r in results] == list(range(150))
    assert {r.index for r in results if not r.ok} == bad
    good = {oid for n, oid in enumerate(ids) if n not in bad}
    got = await shop.read("billing", lambda r: good <= set(r.messages), within=40.0)
    assert set(got.messages) & set(ids) == good
    assert all(len(got.messages[oid]) == 1 for oid in good)
    assert {json.loads(got.messages[ids[0]][0]["Body"])["id"]} == {results[0].event_id}


class Bulky(BaseModel):
    """An event of about 100 KB (``blob``), keyed by ``order_id`` like the shop's events."""

    order_id: str
    blob: str


async def test_big_events_published_together_all_arrive_in_a_queue(shop: Shop) -> None:
    spec = EventSpec("Bulky", 1, Bulky, "shop", destinations=(Destination(queue="bulk"),))
    publisher = Publisher(shop.aws, Registry([spec]), shop.topology, shop.env)
    ids = [marker() for _ in range(5)]
    events = [Bulky(order_id=i, blob=f"{n}" * 100_000) for n, i in enumerate(ids)]
    calls: list[str] = []

    def count(event_name: str, **_: object) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    event = "before-send.sqs.SendMessageBatch"
    shop.aws.sqs.meta.events.register(event, count, unique_id=ids[0])
    try:
        results = await publisher.publish_many(events, check=True)
    finally:
        shop.aws.sqs.meta.events.unregister(event, unique_id=ids[0])
    assert all(r.ok for r in results)
    assert calls == ["SendMessageBatch"] * 3  # 2 + 2 + 1 entries: under 256 KiB each time
    # They went out JSON-encoded by bus (bus.aws.encoding), not through botocore's shape walks.
    assert isinstance(shop.aws.sqs._serializer, LightSerializer)  # type: ignore[attr-defined]
    got = await shop.read("bulk", lambda r: set(ids) <= set(r.messages), within=30.0)
    assert set(got.messages) == set(ids)
    for n, oid in enumerate(ids):
        [message] = got.messages[oid]
        envelope = decoded(message).envelope
        assert envelope.id == results[n].event_id
        assert envelope.data == {"order_id": oid, "blob": f"{n}" * 100_000}


async def test_awkward_characters_survive_the_sqs_json_encoding(shop: Shop) -> None:
    spec = EventSpec(
        "Bulky", 1, Bulky, "shop", destinations=(Destination(queue="bulk"),), attributes=("blob",)
    )
    publisher = Publisher(shop.aws, Registry([spec]), shop.topology, shop.env)
    oid = marker()
    blob = 'Zoë "quoted" \\ back\tslash ✓ 𝄞 <&>'
    await publisher.publish_many([Bulky(order_id=oid, blob=blob)], check=True)
    assert isinstance(shop.aws.sqs._serializer, LightSerializer)  # type: ignore[attr-defined]
    got = await shop.read("bulk", lambda r: oid in r.messages)
    [message] = got.messages[oid]
    assert decoded(message).envelope.data == {"order_id": oid, "blob": blob}
    assert message["MessageAttributes"]["blob"] == {"StringValue": blob, "DataType": "String"}


async def test_characters_sqs_refuses_in_the_body_are_sent_as_json_escapes(shop: Shop) -> None:
    """U+FFFE, U+FFFF and lone surrogates are outside what SQS takes (XML 1.0's characters): in the
    event's data they go as JSON escapes, so the message is taken and reads back the same."""
    spec = EventSpec("Bulky", 1, Bulky, "shop", destinations=(Destination(queue="bulk"),))
    publisher = Publisher(shop.aws, Registry([spec]), shop.topology, shop.env)
    oid = marker()
    blob = "not \ufffe a \uffff character ✓"
    [result] = await publisher.publish_many([Bulky(order_id=oid, blob=blob)], check=True)
    assert result.ok
    got = await shop.read("bulk", lambda r: oid in r.messages)
    [message] = got.messages[oid]
    assert "\\ufffe" in message["Body"]
    assert "\ufffe" not in message["Body"]
    assert decoded(message).envelope.data == {"order_id": oid, "blob": blob}
