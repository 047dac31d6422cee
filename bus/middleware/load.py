"""Middlewares and idempotency stores named in topology.yaml, imported and built at start-up.

An entry is ``package.module:name`` or ``{use: package.module:name, options: {...}}``. An async
function taking ``(delivery, call_next)`` is the middleware itself (it takes no options); anything
else is a factory (a class, a function) called with the options as keyword arguments, and what it
returns is the middleware. A typo, a factory that refuses its options or a result that is not a
middleware is a ``HandlerError`` naming the entry, before any message is received.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from bus import imports
from bus.errors import HandlerError
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.idempotency import IdempotencyStore, MemoryStore
from bus.middleware.publish import PublishMiddleware
from bus.topology.model import Idempotency, MiddlewareEntry

T = TypeVar("T")


def factory(path: str, base_dir: Path | None, where: str) -> Callable[..., object]:
    """The callable ``path`` names (a middleware function, or a factory of a middleware or
    store), imported, not called; a ``HandlerError`` naming ``where`` if it cannot be."""
    try:
        found = imports.import_object(path, base_dir)
    except (ImportError, LookupError) as exc:
        raise HandlerError(f"{where}: {path}: cannot import it: {exc}") from exc
    except Exception as exc:  # the module raised while it was imported
        raise HandlerError(f"{where}: {path}: {imports.raised_on_import(exc)}") from exc
    if not callable(found):
        raise HandlerError(f"{where}: {path} is not callable")
    return found


def _build(path: str, options: dict[str, Any], base_dir: Path | None, where: str) -> object:
    found = factory(path, base_dir, where)
    if inspect.iscoroutinefunction(found):
        if options:
            raise HandlerError(f"{where}: {path} is a middleware function; it takes no options")
        return found
    try:
        return found(**options)
    except Exception as exc:
        raise HandlerError(f"{where}: {path}({_show(options)}) failed: {exc}") from exc


def _show(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _async_call(obj: object) -> bool:
    call = getattr(obj, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(call)


def consume_middlewares(
    entries: Sequence[MiddlewareEntry], base_dir: Path | None, where: str
) -> list[ConsumeMiddleware]:
    """Build the consume middlewares of ``entries`` (``where``: their key, for errors)."""
    out: list[ConsumeMiddleware] = []
    for index, entry in enumerate(entries):
        ref = entry
        here = f"{where}[{index}]"
        made = _build(ref.use, dict(ref.options), base_dir, here)
        if not _async_call(made):
            raise HandlerError(
                f"{here}: {ref.use} gave {made!r}, not an async (delivery, call_next) callable"
            )
        out.append(cast(ConsumeMiddleware, made))
    return out


def publish_middlewares(
    entries: Sequence[MiddlewareEntry], base_dir: Path | None, where: str = "middleware.publish"
) -> list[PublishMiddleware]:
    """Build the publish middlewares of ``entries``."""
    out: list[PublishMiddleware] = []
    for index, entry in enumerate(entries):
        ref = entry
        here = f"{where}[{index}]"
        made = _build(ref.use, dict(ref.options), base_dir, here)
        if not (
            _async_call(getattr(made, "event", None)) and _async_call(getattr(made, "batch", None))
        ):
            raise HandlerError(
                f"{here}: {ref.use} gave {made!r}, not a publish middleware "
                "(async event() and batch() methods; subclass bus.middleware.PublishMiddleware)"
            )
        out.append(cast(PublishMiddleware, made))
    return out


def idempotency_store(config: Idempotency, base_dir: Path | None, where: str) -> IdempotencyStore:
    """The store ``config`` names (``memory``: a new ``MemoryStore``)."""
    if config.store == "memory":
        try:
            return MemoryStore(**config.options)
        except TypeError as exc:
            raise HandlerError(f"{where}: memory store options: {exc}") from exc
    if config.store == "sql":
        return _sql_store(config, where)
    made = _build(config.store, dict(config.options), base_dir, where)
    if not isinstance(made, IdempotencyStore):
        raise HandlerError(
            f"{where}: {config.store} gave {made!r}, not an IdempotencyStore "
            "(async claim, complete and release)"
        )
    return made


def _sql_store(config: Idempotency, where: str) -> IdempotencyStore:
    """``store: sql``: the SQL inbox (``bus.outbox.inbox``; needs the ``sqlalchemy`` extra)."""
    try:
        from bus.outbox.inbox import SqlStore
    except ImportError as exc:
        raise HandlerError(
            f"{where}: store: sql needs SQLAlchemy: pip install 'bus-framework[sqlalchemy]' ({exc})"
        ) from exc
    from bus.topology.inbox_model import SqlInbox

    try:
        return SqlStore.from_config(config.sql or SqlInbox())
    except Exception as exc:
        raise HandlerError(f"{where}: {exc}") from exc
