"""The durable idempotency stores topology.yaml can name, and the values their settings take.

``idempotency: {store: dynamodb, table: handled, ttl: 7d, in_progress_expiry: 15m}`` (top level,
or per handler queue under ``handlers.<queue>.idempotency``) keeps handled event ids in DynamoDB
table ``handled`` (``<env>-handled`` in an environment), which ``bus apply`` creates. Durations
are seconds, or a number with a unit: ``90s``, ``15m``, ``2h``, ``7d``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Protocol

from pydantic import BeforeValidator

DYNAMODB = "dynamodb"
SQL = "sql"
"""The SQL inbox (``bus.topology.inbox_model``, ``bus.outbox.inbox``)."""
BUILT_IN_STORES = ("memory", DYNAMODB, SQL)
STORE_PATTERN = r"^(memory|dynamodb|sql|[A-Za-z_][\w.]*:[A-Za-z_][\w.]*)$"
TABLE_PATTERN = r"^[\.\-_A-Za-z0-9]+$"
TABLE_LENGTH = (3, 200)
"""DynamoDB: 3 to 255 of these characters; 200 leaves room for the environment prefix."""
DAY = 86_400.0
DEFAULT_TTL = 7 * DAY
MAX_TTL = 366 * DAY
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: Any) -> Any:
    """``"7d"`` -> 604800.0; a number stays as it is (pydantic checks its type and bounds)."""
    if not isinstance(value, str):
        return value
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration: seconds, or e.g. 90s, 15m, 2h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written as a number or with a unit (``90s``, ``15m``, ``2h``, ``7d``)."""


class _StoreFields(Protocol):
    @property
    def store(self) -> str: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def table(self) -> str | None: ...
    @property
    def expires(self) -> float: ...
    @property
    def ttl(self) -> float: ...


def check_store_fields(config: _StoreFields) -> None:
    """The settings each store takes: ``table`` for (and only for) ``dynamodb``; ``options`` for
    an imported store's factory (or ``memory``'s capacity); a ``ttl`` that outlives a claim."""
    if config.store == DYNAMODB:
        if config.table is None:
            raise ValueError("store dynamodb needs a table (e.g. table: handled)")
        if config.options:
            raise ValueError("store dynamodb takes table, ttl and in_progress_expiry, not options")
        if config.ttl < config.expires:
            raise ValueError(
                f"ttl ({config.ttl:g} s) must be at least in_progress_expiry ({config.expires:g} s)"
            )
    elif config.table is not None:
        raise ValueError(f"table is a setting of store dynamodb, not of store {config.store}")
