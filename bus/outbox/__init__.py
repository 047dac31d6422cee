"""The transactional outbox: publish events that commit, and only those (SQLAlchemy 2).

::

    outbox = Outbox.load(settings)
    with Session(engine) as session, session.begin():   # or an AsyncSession
        session.add(order)
        outbox.add(session, OrderPlaced(...))          # validated now, inserted with the order

    bus outbox init --database-url ...                 # the table (or --print-ddl)
    bus outbox relay --database-url ...                # publishes committed rows

``table`` holds the rows, ``add`` validates and inserts, ``publish`` sends rows through the
Publisher, ``claim`` hands rows to relays safely, ``relay`` runs the loop, ``ops`` backs the CLI.
``inbox`` is the consuming side: the SQL idempotency store (``store: sql``), whose handlers write
through ``sql_session(ctx)`` in the transaction that completes the event.
Needs the ``sqlalchemy`` extra (``pip install 'bus-framework[sqlalchemy]'``); ``import bus`` does
not import this package.
"""

from bus.outbox.add import Outbox
from bus.outbox.inbox import SqlStore, sql_session
from bus.outbox.ops import Entry, counts, ddl, entries, init, retry
from bus.outbox.publish import OutboxPublisher, RestoreRows, Stored
from bus.outbox.relay import Backoff, Cycle, Relay, RelayOptions
from bus.outbox.table import OutboxRow, metadata, outbox_table

__all__ = [
    "Backoff",
    "Cycle",
    "Entry",
    "Outbox",
    "OutboxPublisher",
    "OutboxRow",
    "Relay",
    "RelayOptions",
    "RestoreRows",
    "SqlStore",
    "Stored",
    "counts",
    "ddl",
    "entries",
    "init",
    "metadata",
    "outbox_table",
    "retry",
    "sql_session",
]
