"""Making a span the current one for the rest of a delivery, and undoing it.

``attach_span(span)`` is ``otel_context.attach(trace.set_span_in_context(span))`` and
``detach(token)`` is ``otel_context.detach(token)``: the same new ``Context`` (the current one's
values plus the span under the API's span key) set in the same context variable, the same token
(a ``contextvars.Token``), in two calls instead of eight. It writes that variable itself only when
the API's runtime context is its default ``ContextVarsRuntimeContext`` (its ``_current_context``)
and the span key is found (the one key ``set_span_in_context`` sets in an empty context, read once
on import); otherwise it calls the API. A token that cannot be reset is handed to the API's
``detach``, which logs it as it would have.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext


def _variable() -> ContextVar[Context] | None:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    found = getattr(runtime, "_current_context", None)
    return found if type(found) is ContextVar else None


def _span_key() -> str | None:
    probe = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    made = trace.set_span_in_context(probe, Context())
    keys = list(made)
    if type(made) is not Context or len(keys) != 1 or made[keys[0]] is not probe:
        return None
    return keys[0]


_VARIABLE = _variable()
_KEY = _span_key()
DIRECT = _VARIABLE is not None and _KEY is not None
"""Whether the variable is set here (else: through the API)."""


def attach_span(span: trace.Span) -> Token[Context]:
    """``otel_context.attach(trace.set_span_in_context(span))``."""
    variable = _VARIABLE
    if variable is None or _KEY is None:
        return otel_context.attach(trace.set_span_in_context(span))
    return variable.set(Context({**variable.get(), _KEY: span}))


def detach(token: Token[Context]) -> None:
    """``otel_context.detach(token)``."""
    variable: Any = _VARIABLE
    if variable is None:
        otel_context.detach(token)
        return
    try:
        variable.reset(token)
    except Exception:  # a token of another context: the API's detach logs it
        otel_context.detach(token)
