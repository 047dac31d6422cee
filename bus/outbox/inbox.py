"""The SQL inbox: an ``IdempotencyStore`` in a database table, sharing its transaction with handlers.

::

    # topology.yaml
    idempotency: {store: sql, sql: {table: bus_inbox}}     # URL from $BUS_DATABASE_URL (or url:)
    handlers:
      billing: {events: {OrderPlaced: handlers.billing:on_order}, idempotent: true}

    # handlers/billing.py
    async def on_order(event: OrderPlaced, ctx: Context) -> None:
        session = sql_session(ctx)            # an AsyncSession in this delivery's transaction
        session.add(Invoice(order_id=event.order_id))
        # no commit: bus commits it together with the inbox row, after the handler returned

How it is exactly once. ``claim`` inserts the key as ``in_progress`` (``INSERT ... ON CONFLICT DO
NOTHING``), or takes over an expired in-progress claim (a conditional ``UPDATE``), in a short
transaction of its own, with a fresh owner token. The handler then runs; ``sql_session(ctx)`` opens
(on first use) a session on the inbox's engine. When the handler succeeded, the same transaction
marks the key ``completed`` — ``UPDATE ... WHERE key = ? AND owner = <token>`` — and commits: the
handler's writes and the completion are one commit. A handler that fails (or a commit that fails)
rolls back, and ``release`` deletes the claim: no write, no claim, the next copy runs. A redelivered
copy of a completed event finds ``completed`` and is skipped. A copy arriving while another holds
the claim finds ``in_progress`` and comes back later. A worker that dies mid-handler leaves its
claim until ``expires`` passed; should it come back to life after another worker retook the claim,
its completion matches no row (``ClaimLost``) and its transaction rolls back: the database work is
done once either way. Each in-process try (transient errors) gets a transaction of its own.

A handler that does not call ``sql_session`` gets a durable, shared store all the same (completion
in its own transaction). Needs the ``sqlalchemy`` extra; the table is created at first use (or take
its DDL from ``inbox_table(...)`` for a migration).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bus.errors import HandlerError, SettingsError
from bus.middleware.consume import CallNext, Incoming
from bus.middleware.idempotency import Claim, idempotency_key
from bus.outbox.database import open_engine
from bus.outbox.table import utc_now
from bus.topology.inbox_model import SqlInbox

if TYPE_CHECKING:
    from bus.worker.context import Context

IN_PROGRESS, COMPLETED = "in_progress", "completed"


class ClaimLost(HandlerError):
    """The claim expired and another copy took it over before this one committed (rolled back)."""


def inbox_table(name: str = "bus_inbox", metadata: MetaData | None = None) -> Table:
    """The inbox table ``name`` (in ``metadata``, a new one by default)."""
    return Table(
        name,
        metadata if metadata is not None else MetaData(),
        Column("key", String(255), primary_key=True),
        Column("state", String(12), nullable=False),
        Column("owner", String(32), nullable=False),
        Column("expires_at", DateTime, nullable=True),
        Column("completed_at", DateTime, nullable=True),
        Column("result", Text, nullable=True),
    )


def url_of(config: SqlInbox, environ: dict[str, str] | None = None) -> str:
    """The database URL ``config`` gives: ``$url_env`` when set, else ``url``."""
    env = os.environ if environ is None else environ
    url = env.get(config.url_env) or config.url
    if not url:
        raise SettingsError(
            f"idempotency store sql: no database URL: set ${config.url_env} or idempotency.sql.url"
        )
    return url


@dataclass
class _Transaction:
    """The handler's transaction of one try: its session, opened on first use."""

    context: Context
    store: SqlStore
    session: AsyncSession | None = field(default=None)


_current: contextvars.ContextVar[_Transaction | None] = contextvars.ContextVar(
    "bus_inbox_transaction", default=None
)


def sql_session(ctx: Context) -> AsyncSession:
    """The ``AsyncSession`` of the handler's delivery ``ctx``: its work commits with the inbox's
    completion of the event, or not at all. Do not commit it; flushing is fine. Only in a handler
    of a queue guarded by ``store: sql``."""
    tx = _current.get()
    if tx is None or tx.context is not ctx:
        raise RuntimeError(
            "sql_session(ctx): this handler's queue is not guarded by the SQL inbox "
            "(idempotency: {store: sql} and idempotent: true)"
        )
    if tx.session is None:
        tx.session = AsyncSession(tx.store.engine, expire_on_commit=False)
    return tx.session


class SqlStore:
    """An ``IdempotencyStore`` in table ``table`` of ``url``'s database (see the module doc)."""

    def __init__(self, url: str | URL, table: str = "bus_inbox") -> None:
        self.engine: AsyncEngine = open_engine(url)
        if self.engine.dialect.name not in ("postgresql", "sqlite"):
            raise SettingsError(
                f"idempotency store sql: {self.engine.dialect.name} is not supported "
                "(PostgreSQL, SQLite)"
            )
        self.table = inbox_table(table)
        self._owners: dict[str, str] = {}
        """key -> the owner token of this process's claim on it."""
        self._ready = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: SqlInbox) -> SqlStore:
        return cls(url_of(config), config.table)

    async def create(self) -> None:
        """Create the table where it does not exist yet (once per store)."""
        async with self._lock:
            if self._ready:
                return
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(self.table.metadata.create_all)
            except (IntegrityError, ProgrammingError):  # another process created it meanwhile
                pass
            self._ready = True

    async def ready(self) -> None:
        """The worker's start-up check (``store_ready``): the database answers and the table
        exists (created when missing); ``SettingsError`` saying which database did not answer."""
        try:
            await self.create()
        except (DBAPIError, OSError) as exc:
            where = self.engine.url.render_as_string()  # the password hidden
            raise SettingsError(f"idempotency store sql: cannot use {where}: {exc}") from exc

    def _insert_claim(self, values: dict[str, Any]) -> Any:
        if self.engine.dialect.name == "postgresql":
            insert: Any = postgresql.insert(self.table)
        else:
            insert = sqlite.insert(self.table)
        return insert.values(values).on_conflict_do_nothing().returning(self.table.c.key)

    async def claim(self, key: str, expires: float) -> Claim:
        if not self._ready:
            await self.create()
        t = self.table
        token = uuid.uuid4().hex
        now = utc_now()
        until = now + timedelta(seconds=expires)
        async with self.engine.begin() as conn:
            values = {"key": key, "state": IN_PROGRESS, "owner": token, "expires_at": until}
            inserted = (await conn.execute(self._insert_claim(values))).first()
            if inserted is None:
                retaken = await conn.execute(
                    update(t)
                    .where(t.c.key == key, t.c.state == IN_PROGRESS, t.c.expires_at < now)
                    .values(owner=token, expires_at=until)
                    .returning(t.c.key)
                )
                if retaken.first() is None:
                    row = (
                        await conn.execute(select(t.c.state, t.c.result).where(t.c.key == key))
                    ).first()
                    if row is not None and row.state == COMPLETED:
                        return Claim("completed", row.result)
                    return Claim("in-progress")  # held (or released this instant): comes back
        self._owners[key] = token
        return Claim("claimed")

    def _completion(self, key: str, token: str, result: str | None) -> Any:
        t = self.table
        return (
            update(t)
            .where(t.c.key == key, t.c.owner == token, t.c.state == IN_PROGRESS)
            .values(state=COMPLETED, completed_at=utc_now(), expires_at=None, result=result)
            .returning(t.c.key)
        )

    async def complete(self, key: str, result: str | None = None) -> None:
        token = self._owners.pop(key, None)
        if token is None:  # completed in the handler's transaction already
            return
        async with self.engine.begin() as conn:
            done = (await conn.execute(self._completion(key, token, result))).first()
        if done is None:
            raise ClaimLost(f"{key}: the claim expired and was taken over before completion")

    async def release(self, key: str) -> None:
        token = self._owners.pop(key, None)
        if token is None:
            return
        t = self.table
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(t).where(t.c.key == key, t.c.owner == token, t.c.state == IN_PROGRESS)
            )

    async def transaction(self, delivery: Incoming, call_next: CallNext) -> None:
        """The consume middleware around each try of the handler: the session ``sql_session``
        hands it, committed with the inbox's completion when the try handled the event."""
        if delivery.context is None or delivery.envelope is None or delivery.outcome is not None:
            await call_next(delivery)
            return
        tx = _Transaction(delivery.context, self)
        reset = _current.set(tx)
        try:
            await call_next(delivery)
            if tx.session is not None:
                await self._settle(tx.session, delivery)
        finally:
            _current.reset(reset)
            if tx.session is not None:
                await tx.session.close()

    async def _settle(self, session: AsyncSession, delivery: Incoming) -> None:
        outcome = delivery.outcome
        if outcome is None or outcome.kind != "handled" or delivery.envelope is None:
            await session.rollback()
            return
        key = idempotency_key(delivery.queue, delivery.envelope.id)
        token = self._owners.get(key)
        try:
            if token is None:
                raise ClaimLost(f"{key}: no claim held by this worker")
            done = (await session.execute(self._completion(key, token, None))).first()
            if done is None:
                raise ClaimLost(f"{key}: the claim expired and was taken over; rolled back")
            await session.commit()
        except Exception as exc:  # the handler's writes did not commit: as if it had failed
            await session.rollback()
            delivery.fail(exc)
            return
        self._owners.pop(key, None)

    async def purge(self, older_than: float) -> int:
        """Delete keys completed more than ``older_than`` seconds ago; how many (a redelivered
        copy older than that would run again)."""
        t = self.table
        cutoff = utc_now() - timedelta(seconds=older_than)
        async with self.engine.begin() as conn:
            gone = await conn.execute(
                delete(t).where(t.c.state == COMPLETED, t.c.completed_at < cutoff)
            )
        return int(gone.rowcount)

    async def close(self) -> None:
        await self.engine.dispose()
