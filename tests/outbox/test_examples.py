"""The README's Flask (sync ``Session``) and FastAPI (``AsyncSession``) examples, through the
frameworks' test clients on a SQLite file: a placed order and its ``OrderPlaced`` commit together; an
order that does not commit, or an invalid one, leaves neither."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from bus.outbox import Outbox, outbox_table
from bus.settings import Settings
from handlers.shop import Order

ROOT = Path(__file__).resolve().parents[2]
ORDER = {"order_id": "o-1", "customer_id": "c-1", "total_cents": 4_999, "country": "DE"}

Post = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


@pytest.fixture(scope="module")
def outbox() -> Outbox:
    return Outbox.load(Settings.from_env({}, topology_path=ROOT / "topology.yaml"))


@pytest.fixture(params=["flask", "fastapi"])
def post(request: pytest.FixtureRequest, tmp_path: Path, outbox: Outbox) -> Iterator[Post]:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    if request.param == "flask":
        from examples.flask_app import create_app

        app = create_app(url, outbox)
        client = app.test_client()

        def flask_post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            answer = client.post("/orders", json=body)
            return answer.status_code, answer.get_json()

        try:
            yield flask_post
        finally:  # its pool's SQLite connections (Python 3.13 warns of an unclosed one)
            app.extensions["engine"].dispose()
        return
    from examples.fastapi_app import create_app as create_fastapi

    yield from _fastapi(create_fastapi(url, outbox))


def _fastapi(app: Any) -> Iterator[Post]:
    """``app`` served through httpx's ASGI transport (what FastAPI's async tests use; Starlette's
    ``TestClient`` warns about httpx now), its lifespan run around the test."""
    import httpx

    runner = asyncio.Runner()
    lifespan = app.router.lifespan_context(app)
    runner.run(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")

    def fastapi_post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = runner.run(client.post("/orders", json=body))
        return answer.status_code, answer.json()

    try:
        yield fastapi_post
    finally:
        runner.run(client.aclose())
        runner.run(lifespan.__aexit__(None, None, None))
        runner.close()


def stored(tmp_path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The shop's order ids, and the outbox rows (event id, type, body)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    try:
        with engine.connect() as conn:
            orders = [row.order_id for row in conn.execute(select(Order.order_id))]
            t = outbox_table
            rows = [
                {"event_id": r.event_id, "event_type": r.event_type, "body": json.loads(r.body)}
                for r in conn.execute(select(t.c.event_id, t.c.event_type, t.c.body))
            ]
    finally:
        engine.dispose()
    return orders, rows


def test_an_order_and_its_event_commit_together(post: Post, tmp_path: Path) -> None:
    status, answer = post(ORDER)
    assert status == 201, answer
    orders, rows = stored(tmp_path)
    assert orders == ["o-1"]
    (row,) = rows
    assert row["event_id"] == answer["event_id"]
    assert row["event_type"] == "OrderPlaced"
    assert row["body"]["data"]["order_id"] == "o-1"


def test_an_order_that_does_not_commit_publishes_nothing(post: Post, tmp_path: Path) -> None:
    assert post(ORDER)[0] == 201
    status, _ = post({**ORDER, "total_cents": 1})  # the same order id: its commit fails
    assert status == 409
    orders, rows = stored(tmp_path)
    assert orders == ["o-1"]
    assert [r["body"]["data"]["total_cents"] for r in rows] == [4_999]  # not the rolled-back one


def test_an_invalid_order_writes_nothing(post: Post, tmp_path: Path) -> None:
    status, _ = post({**ORDER, "country": "Germany"})
    assert status == 422
    assert stored(tmp_path) == ([], [])
