"""The relay's connection to the database: an async engine, and how it waits for new rows.

The relay takes the application's database URL. A driver that cannot run under asyncio is replaced
by its async sibling: ``sqlite://`` runs on ``aiosqlite``, ``postgresql://`` and
``postgresql+psycopg2://`` on ``psycopg`` (3). On PostgreSQL with psycopg the relay ``LISTEN``\\s on
``bus_outbox`` (the table's insert trigger notifies at commit); elsewhere it polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bus.errors import SettingsError
from bus.outbox.table import CHANNEL

log = structlog.get_logger("bus.outbox")

ASYNC_DRIVERS = {
    ("sqlite", "pysqlite"): "sqlite+aiosqlite",
    ("postgresql", "psycopg2"): "postgresql+psycopg",
}


def async_url(url: str | URL) -> URL:
    """``url`` with a driver that runs under asyncio (see the module doc)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SettingsError(f"invalid database URL: {exc}") from exc
    key = (parsed.get_backend_name(), parsed.get_driver_name())
    replacement = ASYNC_DRIVERS.get(key)
    return parsed.set(drivername=replacement) if replacement else parsed


def open_engine(url: str | URL) -> AsyncEngine:
    """An async engine for ``url``; ``SettingsError`` when its driver is missing or not async,
    or (SQLite) its file's folder does not exist."""
    target = async_url(url)
    path = target.database if target.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:"):
        folder = Path(path).parent
        if not folder.is_dir():
            where = target.render_as_string(hide_password=True)
            raise SettingsError(f"database {where}: the folder {folder} does not exist")
    try:
        return create_async_engine(target)
    except (NoSuchModuleError, InvalidRequestError, ModuleNotFoundError) as exc:
        raise SettingsError(
            f"cannot open {target.render_as_string()}: {exc} (the relay needs an async driver: "
            "aiosqlite for SQLite, psycopg or asyncpg for PostgreSQL)"
        ) from exc


class Waker(Protocol):
    """Waits until new rows may be there (or ``seconds`` passed)."""

    async def wait(self, seconds: float) -> None: ...

    async def close(self) -> None: ...


class Poll:
    """Wakes after ``seconds``."""

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        return None


class Listen:
    """Wakes on ``NOTIFY bus_outbox`` (PostgreSQL, psycopg 3), or after ``seconds``. A lost
    connection (the server restarted) is opened again at the next wait; meanwhile it polls."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.connection: Any = None

    @classmethod
    async def open(cls, engine: AsyncEngine) -> Listen:
        """Listening, or (the server is down or starting) polling until a wait connects."""
        import psycopg

        listen = cls(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await listen._connect()
        except (psycopg.Error, OSError) as exc:
            log.warning("outbox.listen_lost", error=str(exc))
        return listen

    async def _connect(self) -> None:
        import psycopg

        connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        await connection.execute(f"LISTEN {CHANNEL}")
        self.connection = connection

    async def wait(self, seconds: float) -> None:
        import psycopg

        try:
            if self.connection is None or self.connection.closed:
                await self._connect()
            async for _ in self.connection.notifies(timeout=seconds, stop_after=1):
                break
        except (psycopg.Error, OSError) as exc:
            log.warning("outbox.listen_lost", error=str(exc))
            await self.close()
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


async def open_waker(engine: AsyncEngine, *, listen: bool) -> Waker:
    """``Listen`` where the database and driver can, else ``Poll``."""
    if listen and engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return await Listen.open(engine)
    return Poll()
