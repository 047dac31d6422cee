"""The reference application's own database: orders, placed together with their ``OrderPlaced``.

``place_order`` is the whole transactional outbox from an application's side: the order row and the
event's outbox row go into the caller's transaction, so the event is published if and only if the
order commits. It takes a sync ``Session`` (Flask, ``examples/flask_app.py``) or an
``AsyncSession`` (FastAPI, ``examples/fastapi_app.py``; ``bus up``'s sample traffic, ``Shop``).
Needs the ``sqlalchemy`` extra.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, MetaData, String
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bus.outbox import Outbox
from bus.outbox import metadata as outbox_metadata
from bus.outbox.database import async_url
from schemas.orders import OrderPlaced


class Base(DeclarativeBase):
    metadata = MetaData()


class Order(Base):
    """An order as the shop keeps it."""

    __tablename__ = "shop_orders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    placed_at: Mapped[datetime] = mapped_column(DateTime)

    @classmethod
    def of(cls, event: OrderPlaced) -> Order:
        return cls(
            order_id=event.order_id,
            customer_id=event.customer_id,
            total_cents=event.total_cents,
            currency=event.currency,
            country=event.country,
            placed_at=datetime.now(UTC).replace(tzinfo=None),
        )


def place_order(session: Session | AsyncSession, outbox: Outbox, event: OrderPlaced) -> str:
    """Add the order and its ``OrderPlaced`` to ``session``'s transaction; the event id. Raises
    (``EventValidationError`` ...) before anything is added when the event could not be published."""
    event_id = outbox.add(session, event)  # validated first: nothing added when it is refused
    session.add(Order.of(event))
    return event_id


class Shop:
    """The shop's async database with the outbox, as ``bus up``'s sample traffic uses it."""

    errors: tuple[type[Exception], ...] = (SQLAlchemyError,)
    """What a failing database raises."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self.engine = engine
        self.outbox = outbox

    @classmethod
    async def open(cls, url: str, outbox: Outbox) -> Shop:
        """The shop on ``url`` (its tables and the outbox's created when missing)."""
        engine = create_async_engine(async_url(url))
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(outbox_metadata.create_all)
        return cls(engine, outbox)

    async def place(self, event: OrderPlaced) -> str:
        """Commit the order and its ``OrderPlaced`` together; the event id."""
        async with AsyncSession(self.engine) as session, session.begin():
            return place_order(session, self.outbox, event)

    async def close(self) -> None:
        await self.engine.dispose()
