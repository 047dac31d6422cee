"""The reference application on the embedded LocalStack, for what it claims about AWS: SNS's raw
and body-filtered fan-out, the EventBridge rule's numeric pattern and SNS FIFO ordering carry the
flow end to end. The handlers' own paths (retries, redelivery, dead letters) are tested on the
in-memory AWS in ``test_reference_app.py``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.aws.failure import FailureRecord, read_failure
from bus.envelope import decode
from bus.worker import Stats
from handlers import ledger, notifications
from schemas.orders import LedgerEntry, OrderLine, OrderPlaced
from tests.worker.conftest import ROOT, Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    text = (ROOT / "topology.yaml").read_text()
    yield await apply_topology(module_aws, text, tmp_path_factory.mktemp("shop"), new_env())


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


async def dead_letters(applied: Applied, queue: str, order_id: str) -> list[FailureRecord | None]:
    found = []
    for message in await applied.drain(queue):
        envelope = decode(message["Body"], message_id=message["MessageId"]).envelope
        if envelope.data["order_id"] == order_id:
            found.append(read_failure(message["MessageAttributes"]["bus.failure"]["StringValue"]))
    return found


async def test_an_order_is_charged_shipped_and_notified_in_one_flow(applied: Applied) -> None:
    placed = order("c-1")
    async with applied.running():
        sent = await applied.publisher().publish(placed)
        await wait_for(lambda: len(notices(placed.order_id)) == 1, within=30)
    (notice,) = notices(placed.order_id)
    assert notice.subject == f"Your order {placed.order_id} is on its way"
    assert notice.correlation_id == sent.event_id  # OrderPlaced -> PaymentCaptured -> OrderShipped


async def test_over_the_credit_limit_fails_the_payment_and_fraud_rejects_risky_orders(
    applied: Applied,
) -> None:
    placed = order("c-4", total_cents=650_000, country="XX")
    stats = Stats()
    async with applied.running(stats):
        await applied.publisher().publish(placed)
        await wait_for(
            lambda: (
                len(notices(placed.order_id)) == 1
                and stats.queue("fraud-review").dead_lettered == 1
            ),
            within=30,
        )
    assert notices(placed.order_id)[0].text == "credit limit exceeded"
    (failure,) = await dead_letters(applied, "fraud-review-dlq", placed.order_id)
    assert failure.reason == "rejected"
    assert "shipping country XX needs a check" in failure.error


async def test_ledger_entries_are_applied_in_order_per_account(applied: Applied) -> None:
    accounts = [f"acct-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    entries = [
        LedgerEntry(account_id=a, sequence=s, amount_cents=100 * (s + 1))
        for s in range(8)
        for a in accounts
    ]
    async with applied.running():
        await applied.publisher().publish_many(entries, check=True)
        await wait_for(
            lambda: all(
                a in ledger.ACCOUNTS and len(ledger.ACCOUNTS[a].applied) == 8 for a in accounts
            ),
            within=30,
        )
    for account in accounts:
        assert ledger.ACCOUNTS[account].applied == list(range(8))
        assert ledger.ACCOUNTS[account].balance_cents == sum(100 * (s + 1) for s in range(8))
