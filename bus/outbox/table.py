"""The outbox table (``bus_outbox``) and the relay lease table (``bus_outbox_relay``).

One row per event added: its envelope exactly as ``publish`` prepared it (``body``, the message
attributes as JSON, the FIFO group id), so the relay sends the same message, with the same event id
and time, however late it runs and however often a crash makes it try. ``state`` is ``pending``
(``available_at`` says from when: a row that failed at AWS waits), ``sent`` (kept until the
retention has passed) or ``parked`` (failed for good; ``error`` says why; ``bus outbox retry``
makes it pending again). Times are naive UTC, the same on every database.

On PostgreSQL a statement trigger sends ``NOTIFY bus_outbox`` when rows are inserted: a relay that
listens wakes at the commit instead of at its next poll.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    DDL,
    BigInteger,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CHANNEL = "bus_outbox"
"""The PostgreSQL ``LISTEN``/``NOTIFY`` channel."""

PENDING, SENT, PARKED = "pending", "sent", "parked"
STATES = (PENDING, SENT, PARKED)


def utc_now() -> datetime:
    """Now, as stored in the table: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class OutboxBase(DeclarativeBase):
    """The outbox's own declarative base: its metadata holds only the outbox's tables."""

    metadata = MetaData()


class OutboxRow(OutboxBase):
    """One event waiting to be published, published, or parked."""

    __tablename__ = "bus_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(255))
    event_version: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[str | None] = mapped_column(String(128))
    """The FIFO ``MessageGroupId`` (set when a destination is FIFO): rows of one group go in order."""
    body: Mapped[str] = mapped_column(Text)
    attributes: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    """The event's time (its envelope's ``time``)."""
    available_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "bus_outbox_pending",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index(
            "bus_outbox_group",
            "group_id",
            "id",
            postgresql_where=text("state <> 'sent' AND group_id IS NOT NULL"),
            sqlite_where=text("state <> 'sent' AND group_id IS NOT NULL"),
        ),
        Index("bus_outbox_sent", "sent_at"),
    )


class RelayLease(OutboxBase):
    """Who relays where rows cannot be locked one by one (SQLite): one relay at a time."""

    __tablename__ = "bus_outbox_relay"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


outbox_table = cast(Table, OutboxRow.__table__)
lease_table = cast(Table, RelayLease.__table__)
metadata = OutboxBase.metadata

NOTIFY_FUNCTION = DDL(  # type: ignore[no-untyped-call]
    f"CREATE OR REPLACE FUNCTION {CHANNEL}_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
)
NOTIFY_TRIGGER = DDL(  # type: ignore[no-untyped-call]
    f"CREATE OR REPLACE TRIGGER {CHANNEL}_notify AFTER INSERT ON {outbox_table.name} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {CHANNEL}_notify()"
)
event.listen(outbox_table, "after_create", NOTIFY_FUNCTION.execute_if(dialect="postgresql"))
event.listen(outbox_table, "after_create", NOTIFY_TRIGGER.execute_if(dialect="postgresql"))
