"""FastAPI (``AsyncSession``): an order and its ``OrderPlaced`` commit together, or neither does.

::

    export BUS_TOPOLOGY=topology.yaml DATABASE_URL=sqlite+aiosqlite:///shop.db
    uvicorn --factory examples.fastapi_app:create_app     # POST /orders places an order
    bus outbox relay --database-url sqlite:///shop.db      # publishes the events that committed

The same ``place_order`` as the Flask example (``handlers/shop.py``), on an ``AsyncSession``:
``outbox.add`` does no I/O, the row is inserted at the session's flush, in its transaction.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bus.errors import EventError
from bus.outbox import Outbox
from bus.outbox import metadata as outbox_metadata
from bus.outbox.database import async_url
from handlers.shop import Base, place_order
from schemas.orders import OrderPlaced


def create_app(database_url: str | None = None, outbox: Outbox | None = None) -> FastAPI:
    """The shop's API on ``database_url`` (default ``$DATABASE_URL``)."""
    engine = create_async_engine(async_url(database_url or os.environ["DATABASE_URL"]))
    events = outbox or Outbox.load()  # the topology of $BUS_TOPOLOGY, loaded once

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:  # teams with migrations: `bus outbox init --print-ddl`
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(outbox_metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/orders", status_code=201)
    async def place(event: OrderPlaced) -> dict[str, str]:
        try:
            async with AsyncSession(engine) as session, session.begin():  # one transaction
                event_id = place_order(session, events, event)
        except EventError as exc:
            raise HTTPException(422, str(exc)) from exc
        except IntegrityError as exc:
            raise HTTPException(409, "this order exists already") from exc
        return {"order_id": event.order_id, "event_id": event_id}

    return app
