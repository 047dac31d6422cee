"""The ``sql`` section of an ``idempotency`` store: the inbox table of ``store: sql``.

::

    idempotency:
      store: sql
      sql: {url: "sqlite:///shop.db", table: bus_inbox}   # both optional

The database URL is the value of the environment variable ``url_env`` (``BUS_DATABASE_URL`` by
default) when it is set, else ``url``; one of them must give it (a password belongs in the
environment, not in topology.yaml). A synchronous driver is replaced by its async sibling
(``sqlite://`` -> ``aiosqlite``, ``postgresql://`` -> ``psycopg``), as for the outbox relay.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_URL_ENV = "BUS_DATABASE_URL"


class SqlInbox(BaseModel):
    """Where ``store: sql`` keeps its claims: a table of a SQLAlchemy database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(default=None, min_length=1)
    """The database's SQLAlchemy URL (``postgresql://...``, ``sqlite:///...``)."""
    url_env: str = Field(default=DEFAULT_URL_ENV, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The environment variable whose value, when set, is the URL (it wins over ``url``)."""
    table: str = Field(default="bus_inbox", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """The inbox table (created at start-up when missing)."""
