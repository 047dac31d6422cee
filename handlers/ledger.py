"""The ledger: entries of one account applied in order (the FIFO queue's message group is the
account), each exactly once even when SQS delivers it again."""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.worker import Context
from schemas.orders import LedgerEntry


@dataclass
class Account:
    balance_cents: int = 0
    last_sequence: int = -1
    applied: list[int] = field(default_factory=list)


ACCOUNTS: dict[str, Account] = {}


async def apply_entry(event: LedgerEntry, ctx: Context) -> None:
    account = ACCOUNTS.setdefault(event.account_id, Account())
    if event.sequence <= account.last_sequence:
        ctx.log.info("entry already applied", account_id=event.account_id, sequence=event.sequence)
        return
    if event.sequence != account.last_sequence + 1:
        ctx.log.warning(
            "gap in the ledger",
            account_id=event.account_id,
            expected=account.last_sequence + 1,
            sequence=event.sequence,
        )
    account.balance_cents += event.amount_cents
    account.last_sequence = event.sequence
    account.applied.append(event.sequence)
    ctx.log.info("entry applied", account_id=event.account_id, sequence=event.sequence)
