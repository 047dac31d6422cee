"""What ``bus outbox init|list|retry`` do, callable from Python too.

``ddl(url)`` is the SQL that creates the tables (and, on PostgreSQL, the ``NOTIFY`` trigger) for
teams that manage their schema with migrations: paste it into an Alembic ``op.execute`` or use
``bus.outbox.metadata`` with ``target_metadata``. ``inbox=`` adds the SQL inbox's table
(``idempotency: {store: sql}``), which the store otherwise creates at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateTable

from bus.outbox.database import async_url
from bus.outbox.inbox import inbox_table
from bus.outbox.table import (
    NOTIFY_FUNCTION,
    NOTIFY_TRIGGER,
    PARKED,
    PENDING,
    STATES,
    metadata,
    outbox_table,
    utc_now,
)

t = outbox_table


def ddl(url: str | URL, inbox: str | None = None) -> str:
    """The statements that create the outbox tables on ``url``'s database (no connection made);
    with ``inbox``, the SQL inbox's table of that name too (``store: sql``)."""
    dialect = async_url(url).get_dialect()()
    statements: list[str] = []
    tables = [*metadata.sorted_tables, *([inbox_table(inbox)] if inbox else [])]
    for table in tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements += [
            str(CreateIndex(index).compile(dialect=dialect)).strip()
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]
    if dialect.name == "postgresql":
        statements += [str(NOTIFY_FUNCTION.statement), str(NOTIFY_TRIGGER.statement)]
    tidy = ("\n".join(line.rstrip() for line in s.splitlines()) for s in statements)
    return "".join(f"{s};\n\n" for s in tidy)


async def init(engine: AsyncEngine, inbox: str | None = None) -> None:
    """Create the outbox tables (and trigger) where they do not exist yet; with ``inbox``, the
    SQL inbox's table of that name too."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        if inbox:
            await conn.run_sync(inbox_table(inbox).metadata.create_all)


@dataclass(frozen=True)
class Entry:
    """One row as ``bus outbox list`` shows it."""

    id: int
    event_type: str
    event_id: str
    group_id: str | None
    state: str
    attempts: int
    created_at: datetime
    error: str | None


async def counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows per state."""
    async with engine.connect() as conn:
        answer = await conn.execute(select(t.c.state, func.count()).group_by(t.c.state))
        found = {state: int(count) for state, count in answer}
    return {state: found.get(state, 0) for state in STATES}


async def entries(engine: AsyncEngine, state: str = PARKED, limit: int = 100) -> list[Entry]:
    """The first ``limit`` rows in ``state``, oldest first."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    async with engine.connect() as conn:
        answer = await conn.execute(
            select(
                t.c.id,
                t.c.event_type,
                t.c.event_id,
                t.c.group_id,
                t.c.state,
                t.c.attempts,
                t.c.created_at,
                t.c.error,
            )
            .where(t.c.state == state)
            .order_by(t.c.id)
            .limit(limit)
        )
        return [Entry(*row) for row in answer]


async def retry(engine: AsyncEngine, ids: Sequence[int] = ()) -> int:
    """Make parked rows pending again (those of ``ids``, or all when empty); how many."""
    query = update(t).where(t.c.state == PARKED)
    if ids:
        query = query.where(t.c.id.in_(list(ids)))
    async with engine.begin() as conn:
        result = await conn.execute(
            query.values(state=PENDING, attempts=0, available_at=utc_now(), error=None)
        )
    return int(result.rowcount)
