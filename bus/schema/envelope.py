"""The JSON Schema of the whole envelope of one event version, as it travels (docs/envelope.md).

One builder for both places that publish it: ``bus schemas export`` (a standalone 2020-12 schema
per version, so a producer in any language can validate before sending) and the AsyncAPI document
(a component schema per version). It describes what a bus consumer accepts: the CloudEvents
attributes that are required, and the shape of each optional one when it is given.
"""

from __future__ import annotations

from typing import Any

from bus.envelope.model import CONTENT_TYPE, SPEC_VERSION
from bus.schema.registry import EventSpec

Schema = dict[str, Any]

REQUIRED = ("specversion", "id", "source", "type", "data")
"""CloudEvents' four required attributes, and ``data``: a bus event is a JSON object."""
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$"
ATTRIBUTE_NAME = r"^[a-z0-9]+$"
"""CloudEvents 1.0: attribute names are lower-case ASCII letters and digits."""


def _text(description: str) -> Schema:
    return {"type": "string", "minLength": 1, "description": description}


def envelope_schema(spec: EventSpec, version: int, data: Schema) -> Schema:
    """The envelope of ``version`` of ``spec`` with ``data`` (the model's schema, or a ``$ref``)."""
    return {
        "type": "object",
        "title": f"{spec.name} v{version} envelope",
        "description": (
            "CloudEvents 1.0, structured JSON mode (docs/envelope.md). Required: specversion, id, "
            "source, type, data. bus's publisher also sets time, datacontenttype, eventversion and "
            "correlationid on every event; a consumer accepts an event without them."
        ),
        "required": list(REQUIRED),
        "propertyNames": {"pattern": ATTRIBUTE_NAME},
        "properties": {
            "specversion": {"type": "string", "const": SPEC_VERSION},
            "id": _text("Event id, unique per source (bus makes a UUID at publish time)."),
            "source": {
                **_text("URI-reference of the producer (CloudEvents source)."),
                "examples": [spec.source],
            },
            "type": {"type": "string", "const": spec.cloudevents_type},
            "subject": _text("CloudEvents subject; kept, not used by bus."),
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 with an offset; bus writes UTC with microseconds.",
            },
            "datacontenttype": {
                "type": "string",
                "pattern": r"^(application/json|text/json|[^/;\s]+/[^/;\s]+\+json)\s*(;.*)?$",
                "description": f"A JSON media type; bus writes {CONTENT_TYPE}.",
            },
            "dataschema": {
                **_text("URI of the data's schema; a last segment v<N> names the version."),
                "format": "uri",
            },
            "eventversion": {
                "enum": [version, str(version)],
                "description": (
                    "The event type's version (bus writes the integer). Without it a consumer "
                    "reads the version dataschema names, else the current version."
                ),
            },
            "correlationid": _text("Id shared by one business flow (the first event's id)."),
            "causationid": _text("Id of the event whose handler published this one."),
            "traceparent": {
                "type": "string",
                "pattern": TRACEPARENT,
                "description": "W3C Trace Context (CloudEvents distributed tracing extension).",
            },
            "data": data,
        },
    }
