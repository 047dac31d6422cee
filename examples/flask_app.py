"""Flask (sync ``Session``): an order and its ``OrderPlaced`` commit together, or neither does.

::

    export BUS_TOPOLOGY=topology.yaml DATABASE_URL=sqlite:///shop.db
    flask --app examples.flask_app run                   # POST /orders places an order
    bus outbox relay --database-url sqlite:///shop.db     # publishes the events that committed

``place_order`` (``handlers/shop.py``) validates the event as ``publish`` would, then adds the order
row and the outbox row to the request's transaction: an order that does not commit (here a
duplicate order id) publishes nothing, and a committed one is published by the relay even when AWS
is unreachable at that moment.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request
from pydantic import ValidationError
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bus.errors import EventError
from bus.outbox import Outbox
from bus.outbox import metadata as outbox_metadata
from handlers.shop import Base, place_order
from schemas.orders import OrderPlaced


def create_app(database_url: str | None = None, outbox: Outbox | None = None) -> Flask:
    """The shop's API on ``database_url`` (default ``$DATABASE_URL``)."""
    engine = create_engine(database_url or os.environ["DATABASE_URL"])
    Base.metadata.create_all(engine)  # teams with migrations: `bus outbox init --print-ddl`
    outbox_metadata.create_all(engine)
    outbox = outbox or Outbox.load()  # the topology of $BUS_TOPOLOGY, loaded once
    app = Flask(__name__)
    app.extensions["engine"] = engine  # disposed by whoever ends the app (the tests)

    @app.post("/orders")
    def place() -> tuple[dict[str, Any], int]:
        try:
            event = OrderPlaced.model_validate(request.get_json())
            with Session(engine) as session, session.begin():  # commits, or rolls back, both
                event_id = place_order(session, outbox, event)
        except (ValidationError, EventError) as exc:
            return {"error": str(exc)}, 422
        except IntegrityError:
            return {"error": "this order exists already"}, 409
        return {"order_id": event.order_id, "event_id": event_id}, 201

    return app
