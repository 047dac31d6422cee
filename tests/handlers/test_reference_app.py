"""The reference application's handlers, on the in-memory AWS: topology.yaml applied, events
published with bus's Publisher, the worker run until idle, then what each handler did and what
went to which DLQ and why. Backoff and visibility timeouts pass in virtual time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bus.memory import Harness, open_harness
from handlers import billing, ledger, notifications
from schemas.orders import LedgerEntry, OrderLine, OrderPlaced

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def shop() -> AsyncIterator[Harness]:
    async with open_harness(ROOT / "topology.yaml") as harness:
        yield harness


def order(customer: str, total_cents: int = 4_998, country: str = "DE") -> OrderPlaced:
    return OrderPlaced(
        order_id="o-" + uuid.uuid4().hex[:10],
        customer_id=customer,
        lines=[OrderLine(sku="sku-1", quantity=2, unit_price_cents=2_499)],
        total_cents=total_cents,
        country=country,
    )


def notices(order_id: str) -> list[notifications.Notice]:
    return [n for n in notifications.OUTBOX if n.order_id == order_id]


async def test_an_order_is_charged_shipped_and_notified_in_one_flow(shop: Harness) -> None:
    placed = order("c-1")
    sent = await shop.publish(placed)
    stats = await shop.run_until_idle()
    (notice,) = notices(placed.order_id)
    assert notice.subject == f"Your order {placed.order_id} is on its way"
    assert notice.correlation_id == sent.event_id  # OrderPlaced -> PaymentCaptured -> OrderShipped
    assert [stats.queue(q).processed for q in ("billing", "shipping", "notifications")] == [1, 1, 1]
    assert stats.queue("fraud-review").received == 0  # below the high-value rule's threshold


async def test_a_flaky_gateway_succeeds_on_an_in_process_retry(shop: Harness) -> None:
    placed = order("flaky-c-2")
    await shop.publish(placed)
    stats = await shop.run_until_idle()
    assert len(notices(placed.order_id)) == 1
    assert billing.GATEWAY.attempts[placed.order_id] == 2
    assert stats.queue("billing").retried == 1
    assert stats.queue("billing").redelivered == 0


async def test_a_declined_card_ends_in_the_billing_dlq_after_three_receives(shop: Harness) -> None:
    placed = order("declined-c-3")
    await shop.publish(placed)
    stats = await shop.run_until_idle()
    (letter,) = shop.dead_letters("billing")
    assert letter.data["order_id"] == placed.order_id
    assert letter.failure.reason == "handler-error"
    assert letter.failure.error_type == "handlers.billing.PaymentDeclined"
    assert letter.failure.attempt == 3
    assert stats.queue("billing").redelivered == 2
    assert notices(placed.order_id) == []


async def test_over_the_credit_limit_fails_the_payment_and_fraud_rejects_risky_orders(
    shop: Harness,
) -> None:
    placed = order("c-4", total_cents=650_000, country="XX")
    await shop.publish(placed)
    stats = await shop.run_until_idle()
    assert notices(placed.order_id)[0].text == "credit limit exceeded"
    assert stats.queue("fraud-review").dead_lettered == 1
    (letter,) = shop.dead_letters("fraud-review")
    assert letter.data["order_id"] == placed.order_id
    assert letter.failure.reason == "rejected"
    assert "shipping country XX needs a check" in (letter.failure.error or "")
    assert shop.dead_letters("events-undelivered") == []  # EventBridge delivered it


async def test_ledger_entries_are_applied_in_order_per_account(shop: Harness) -> None:
    accounts = [f"acct-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    entries = [
        LedgerEntry(account_id=a, sequence=s, amount_cents=100 * (s + 1))
        for s in range(8)
        for a in accounts
    ]
    await shop.publish_many(entries, check=True)
    await shop.run_until_idle()
    for account in accounts:
        assert ledger.ACCOUNTS[account].applied == list(range(8))
        assert ledger.ACCOUNTS[account].balance_cents == sum(100 * (s + 1) for s in range(8))
