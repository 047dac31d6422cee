"""The span bus.otel.light records bus's own spans in: what the SDK's ``Span`` records, kept more
simply, handed to the processors as the SDK's ``ReadableSpan`` at ``end``.

A ``LightSpan`` keeps bus's clean ``str``/``int`` attributes in a plain dict; the SDK's own
``BoundedAttributes`` (span limits, value cleaning) and ``BoundedList``\\ s (events, links) are
made as soon as anything else comes. At ``end`` it builds the ``ReadableSpan`` the SDK's span would
have built (bus.otel.sdkparts.readable) and makes the calls the processors' ``on_end`` would make
(bus.otel.sdkparts.endings: a BatchSpanProcessor's batch queue directly), or calls ``on_end`` itself
when a processor was added since the span's tracer was checked.

It takes no lock: it is made, changed and ended by the task handling one message or event. User
code that changes the current span from several threads at once is not serialised as on the SDK's
span (its values are, as there, cleaned and bounded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from time import time_ns
from types import TracebackType
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import Event, SpanLimits
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util import types

from bus.otel.sdkparts import Usable, readable

logger = logging.getLogger(sdk_trace.__name__)
"""The SDK's own logger: the same warnings, under the same name, as its ``Span``."""

_UNSET = Status(StatusCode.UNSET)
_ATOMIC = frozenset((str, int, float, bool))


def _clean(attributes: Mapping[str, Any]) -> bool:
    """Whether the SDK's cleaning would keep ``attributes`` as they are (non-empty ``str`` keys,
    values of the atomic types it stores unchanged when no length limit is set)."""
    for key, value in attributes.items():
        if type(value) not in _ATOMIC or type(key) is not str or not key:
            return False
    return True


class LightSpan(trace.Span):
    """A recording span of bus's own: what the SDK's ``Span`` records, kept more simply until
    something beyond bus's clean attributes is added (then in the SDK's own bounded types).

    Its ``__dict__`` holds exactly the fields of the ``ReadableSpan`` it becomes, under their
    names (bus.otel.sdkparts.NAMES); the rest of its state is in slots. At ``end`` that dict is
    the ``ReadableSpan``'s (no copy): once ended, every change is refused (and logged, as by the
    SDK's span), so nothing changes it after."""

    __slots__ = ("_limits", "_record_end_metrics", "_usable")

    def __init__(
        self,
        usable: Usable,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        ended: Callable[[], None] | None,
        clean: bool = False,
    ) -> None:
        """``ended``: to be called at ``end`` (the tracer's internal span metrics), if anything;
        ``clean``: ``attributes`` are bus's own clean ``str``/``int`` values."""
        self._usable = usable
        self._limits: SpanLimits = usable.limits
        self._record_end_metrics = ended
        self._name = name
        self._context = context
        self._parent = parent
        self._resource = usable.resource  # as the SDK's span: the resource when it started
        self._attributes: dict[str, Any] | BoundedAttributes = attributes
        self._events: tuple[()] | BoundedList[Any] = ()
        self._links: tuple[()] | BoundedList[Any] = ()
        self._kind = kind
        self._instrumentation_info = usable.info
        self._status = _UNSET
        self._start_time = time_ns()
        self._end_time: int | None = None
        self._instrumentation_scope = usable.scope
        # a limit that bites, or a sampler's values (it may add any): the SDK's cleaning
        if len(attributes) > usable.most or not (clean or _clean(attributes)):
            self._bounded()

    def _bounded(self) -> BoundedAttributes:
        """The attributes as the SDK keeps them (made on the first value bus did not clean)."""
        found = self._attributes
        if type(found) is not dict:
            return cast(BoundedAttributes, found)
        limits = self._limits
        bounded = self._attributes = BoundedAttributes(
            limits.max_span_attributes,
            found,
            immutable=False,
            max_value_len=limits.max_span_attribute_length,
        )
        return bounded

    def put(self, key: str, value: str | int) -> None:
        """bus's own clean attribute (no cleaning needed while no limit can bite)."""
        found = self._attributes
        if (
            self._end_time is None
            and type(found) is dict
            and (len(found) < self._usable.most or key in found)
        ):
            found[key] = value
        else:
            self.set_attribute(key, value)

    def put_all(self, attributes: Mapping[str, str | int]) -> None:
        """bus's own clean attributes, as ``put``."""
        for key, value in attributes.items():
            self.put(key, value)

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        self._bounded()[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        self._bounded()._set_items(attributes)

    def _ended(self, what: str) -> bool:
        if self._end_time is not None:
            logger.warning("Tried calling %s on an ended span.", what)
            return True
        return False

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        limits = self._limits
        bounded = BoundedAttributes(
            limits.max_event_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        event = Event(name=name, attributes=bounded, timestamp=timestamp)
        if self._ended("_add_event"):
            return
        events = self._events
        if isinstance(events, tuple):
            events = self._events = BoundedList(limits.max_events)
        events.append(event)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not sdk_trace._is_valid_link(context, attributes):
            return
        limits = self._limits
        bounded = BoundedAttributes(
            limits.max_link_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        if self._ended("_add_link"):
            return
        links = self._links
        if isinstance(links, tuple):
            links = self._links = BoundedList(limits.max_links)
        links.append(Link(context=context, attributes=bounded))

    def update_name(self, name: str) -> None:
        if not self._ended("update_name"):
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended("set_status"):
            return
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                logger.warning(
                    "Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                    description,
                )
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """The SDK's own (it ends in ``add_event``)."""
        sdk_trace.Span.record_exception(
            cast(sdk_trace.Span, self), exception, attributes, timestamp, escaped
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """As the SDK's span used as a context manager: the error recorded, then ``end``."""
        if exc_val is not None and self.is_recording():
            self.record_exception(exception=exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            logger.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else time_ns()
        attributes = self._attributes
        if type(attributes) is not dict:
            cast(BoundedAttributes, attributes)._immutable = True
        if self._record_end_metrics is not None:
            self._record_end_metrics()
        span = readable(self.__dict__)  # its fields, given as they are (see the class)
        usable = self._usable
        processor = usable.tracer.span_processor
        if (
            processor is not usable.processor
            or getattr(processor, "_span_processors", None) is not usable.processors
        ):  # a processor added since: the SDK's own loop over them
            processor.on_end(span)
            return
        for ending in usable.sampled if self._context[3] & 1 else usable.unsampled:
            ending(span)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name="{self._name}", context={self._context})'
