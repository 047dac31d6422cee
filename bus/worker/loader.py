"""Resolve topology.yaml's ``handlers`` section: import paths -> checked async functions.

The topology is the single source of truth: queue -> {event type -> ``module:function``}, with
concurrency, pollers, retry policy and idempotency. Everything is imported and checked at start-up,
so a typo or a wrong signature is a ``HandlerError`` naming the import path before any message is
received.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus import imports
from bus.errors import HandlerError
from bus.middleware.idempotency import IdempotencyStore
from bus.middleware.load import idempotency_store
from bus.retry import Policy
from bus.topology.idempotency_model import DYNAMODB
from bus.topology.model import (
    HandlerBinding,
    Idempotency,
    MiddlewareEntry,
    Topology,
    physical_name,
)

if TYPE_CHECKING:
    from bus.aws import AwsClients

HandlerFunc = Callable[..., Awaitable[None]]
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class Handler:
    """One bound handler: the function, where it came from, and whether it takes a context."""

    event_type: str
    path: str
    func: HandlerFunc
    takes_context: bool


@dataclass(frozen=True)
class QueueBinding:
    """The handlers of one queue (logical name) and how to run them."""

    queue: str
    handlers: Mapping[str, Handler]
    concurrency: int
    pollers: int
    policy: Policy
    idempotency: Idempotency | None = None
    """The store to guard the handlers with; None: not idempotent."""
    timeout: float | None = None
    middleware: tuple[MiddlewareEntry, ...] = ()
    """The queue's own consume middlewares (as declared; built by ``bus.middleware.load``)."""

    @property
    def idempotent(self) -> bool:
        return self.idempotency is not None


def import_object(path: str, base_dir: Path | None = None) -> object:
    """``package.module:attr`` -> the object (``bus.imports``), a ``HandlerError`` if it fails."""
    try:
        return imports.import_object(path, base_dir)
    except (ImportError, LookupError) as exc:
        raise HandlerError(f"{path}: cannot import it: {exc}") from exc
    except Exception as exc:  # the module raised while it was imported
        raise HandlerError(f"{path}: {imports.raised_on_import(exc)}") from exc


def _positional(func: Callable[..., object], where: str) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError) as exc:
        raise HandlerError(f"{where}: cannot read its signature: {exc}") from exc
    required_kw = [
        p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    positional = [p for p in params if p.kind in _POSITIONAL]
    if required_kw or len(positional) not in (1, 2):
        raise HandlerError(
            f"{where}: a handler takes (event) or (event, ctx), not {inspect.signature(func)}"
        )
    return positional


def _check_annotation(
    func: Callable[..., object], first: str, model: type[Any], where: str
) -> None:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations are the handler module's business
        return
    annotated = hints.get(first)
    if isinstance(annotated, type) and not issubclass(model, annotated):
        raise HandlerError(
            f"{where}: its event parameter is annotated {annotated.__qualname__}, "
            f"but this event decodes to {model.__module__}.{model.__qualname__}"
        )


def load_handler(
    event_type: str, path: str, base_dir: Path | None, model: type[Any] | None = None
) -> Handler:
    """Import and check one handler; ``model`` (the event's current model) checks the annotation."""
    where = f"handler {path} for {event_type}"
    func = import_object(path, base_dir)
    if not callable(func):
        raise HandlerError(f"{where}: not a function")
    if not (
        inspect.iscoroutinefunction(func)
        or inspect.iscoroutinefunction(getattr(func, "__call__", None))  # noqa: B004
    ):
        raise HandlerError(f"{where}: must be an async function (async def)")
    params = _positional(func, where)
    if model is not None:
        _check_annotation(func, params[0].name, model, where)
    return Handler(event_type, path, func, takes_context=len(params) == 2)


def load_policy(binding: HandlerBinding, queue: str, base_dir: Path | None) -> Policy:
    transient: list[type[BaseException]] = []
    for path in binding.retry.transient:
        found = import_object(path, base_dir)
        if not (isinstance(found, type) and issubclass(found, BaseException)):
            raise HandlerError(
                f"handlers.{queue}.retry.transient: {path} is not an exception class"
            )
        transient.append(found)
    return Policy.from_model(binding.retry, tuple(transient))


def load_bindings(
    topology: Topology,
    base_dir: Path | None,
    queues: Sequence[str] = (),
    model_of: Callable[[str], type[Any] | None] | None = None,
) -> list[QueueBinding]:
    """The bindings of ``queues`` (default: every queue with handlers), imported and checked."""
    names = list(queues) or list(topology.handlers)
    out: list[QueueBinding] = []
    for name in names:
        binding = topology.handlers.get(name)
        if binding is None:
            known = ", ".join(sorted(topology.handlers)) or "none"
            raise HandlerError(
                f"queue {name!r} has no handlers in the topology (queues with handlers: {known})"
            )
        if name not in topology.queues:
            raise HandlerError(f"handlers.{name}: no queue {name!r} is declared")
        handlers: dict[str, Handler] = {}
        for event_type, path in binding.events.items():
            if event_type not in topology.events:
                raise HandlerError(
                    f"handlers.{name}.events: event type {event_type!r} is not declared"
                )
            model = model_of(event_type) if model_of is not None else None
            handlers[event_type] = load_handler(event_type, path, base_dir, model)
        out.append(
            QueueBinding(
                queue=name,
                handlers=handlers,
                concurrency=binding.concurrency,
                pollers=binding.pollers,
                policy=load_policy(binding, name, base_dir),
                idempotency=(binding.idempotency or topology.idempotency)
                if binding.guarded
                else None,
                timeout=binding.timeout,
                middleware=tuple(binding.middleware),
            )
        )
    return out


async def store_ready(store: IdempotencyStore) -> None:
    """Await the store's optional ``ready()`` (the DynamoDB store checks its table exists)."""
    ready = getattr(store, "ready", None)
    if ready is not None:
        await ready()


def build_store(
    config: Idempotency, aws: AwsClients, env: str | None, base_dir: Path | None, where: str
) -> IdempotencyStore:
    """The idempotency store ``config`` names: ``dynamodb`` on ``aws``'s DynamoDB client (the
    table's physical name in ``env``), else as ``bus.middleware.load.idempotency_store`` builds it."""
    if config.store == DYNAMODB and config.table is not None:
        from bus.middleware.idempotency_dynamodb import DynamoDBStore

        return DynamoDBStore(aws, physical_name(config.table, env), ttl=config.ttl)
    return idempotency_store(config, base_dir, where)
