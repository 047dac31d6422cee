"""The messages of the AsyncAPI document: each event version in each shape of delivery.

- ``<Type>`` (``<Type>.v<N>`` for an older version still accepted on consume): the envelope
  (CloudEvents, structured JSON) as the body, the SNS/SQS message attributes as headers. Topics,
  queues events are sent to directly, and queues fed by SNS with ``raw_message_delivery``.
- ``<Type>.sns``: an SNS notification (a queue fed by SNS without raw delivery): the envelope is
  the JSON string in ``Message``, the attributes are in ``MessageAttributes``; no headers.
- ``<Type>.eventbridge``: an EventBridge event (a bus, and a queue that is a rule's target): the
  envelope is ``detail``; EventBridge carries no message attributes, so no headers.
- ``<Type>.detail`` (a target with ``input_path: $.detail``: the bare envelope, no headers) and
  ``<Type>.transformed`` (any other input path or transformer: shaped by the target).

Each version's envelope (``bus.schema.envelope``) and model are component schemas
(``<Type>.v<N>.envelope``, the models by their names).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bus.asyncapi.bindings import Doc
from bus.asyncapi.routes import DETAIL, EVENTBRIDGE, RAW, SNS, Message, ordered
from bus.envelope.model import CONTENT_TYPE
from bus.schema.envelope import envelope_schema
from bus.schema.registry import EventSpec, Registry

SCHEMA_REF = "#/components/schemas/{model}"


def _models(spec: EventSpec) -> dict[int, type[BaseModel]]:
    return {**{p.version: p.model for p in spec.previous_versions}, spec.version: spec.model}


def _schemas(registry: Registry) -> tuple[dict[str, Doc], dict[tuple[str, int], Doc]]:
    """Component schemas of every model (every version), and each version's model ``$ref``."""
    models = list(dict.fromkeys(m for spec in registry for m in _models(spec).values()))
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=SCHEMA_REF)
    by_version = {
        (spec.name, version): refs[(model, "validation")]
        for spec in registry
        for version, model in _models(spec).items()
    }
    return dict(defs.get("$defs", {})), by_version


def _envelope_id(event: str, version: int) -> str:
    return f"{event}.v{version}.envelope"


def _exposed(spec: EventSpec, model_schema: Doc) -> list[tuple[str, Doc]]:
    """The exposed fields this version's model has, with their schema (title and default aside)."""
    fields = model_schema.get("properties", {})
    return [
        (name, {k: v for k, v in fields[name].items() if k not in ("title", "default")})
        for name in spec.attributes
        if name in fields
    ]


def _headers(spec: EventSpec, version: int, model_schema: Doc) -> Doc:
    props: Doc = {
        "event_type": {
            "type": "string",
            "const": spec.cloudevents_type,
            "description": "String attribute.",
        },
        "event_version": {
            "type": "integer",
            "const": version,
            "description": "Number attribute.",
        },
    }
    for name, field in _exposed(spec, model_schema):
        props[name] = {**field, "description": "Message attribute exposed for filter policies."}
    return {"type": "object", "required": ["event_type", "event_version"], "properties": props}


def _sns_attribute(description: str, data_type: str | None = None, value: str | None = None) -> Doc:
    """One attribute of an SNS notification's ``MessageAttributes``: ``{"Type", "Value"}``."""
    type_schema: Doc = (
        {"type": "string"} if data_type is None else {"type": "string", "const": data_type}
    )
    value_schema: Doc = {"type": "string"} if value is None else {"type": "string", "const": value}
    return {
        "type": "object",
        "description": description,
        "required": ["Type", "Value"],
        "properties": {"Type": type_schema, "Value": value_schema},
    }


def _sns_notification(spec: EventSpec, version: int, model_schema: Doc, envelope: Doc) -> Doc:
    attributes: Doc = {
        "event_type": _sns_attribute("The event type.", "String", spec.cloudevents_type),
        "event_version": _sns_attribute("The event version.", "Number", str(version)),
    }
    for name, _field in _exposed(spec, model_schema):
        attributes[name] = _sns_attribute(
            "Exposed for filter policies (Type String, Number or String.Array; Value its text)."
        )
    return {
        "type": "object",
        "title": f"SNS notification of {spec.name} v{version}",
        "description": (
            "An SNS notification (a subscription without raw_message_delivery); `Message` is the "
            "envelope, as a JSON string."
        ),
        "required": ["Type", "MessageId", "TopicArn", "Message", "Timestamp"],
        "properties": {
            "Type": {"type": "string", "const": "Notification"},
            "MessageId": {"type": "string", "description": "SNS message id."},
            "TopicArn": {"type": "string"},
            "Subject": {"type": "string"},
            "Message": {
                "type": "string",
                "description": "The envelope, JSON-encoded.",
                "contentMediaType": CONTENT_TYPE,
                "contentSchema": envelope,
            },
            "Timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When SNS published it.",
            },
            "SequenceNumber": {"type": "string", "description": "FIFO topics only."},
            "SignatureVersion": {"type": "string"},
            "Signature": {
                "type": "string",
                "description": "SNS's signature of the notification; bus does not check it "
                "(SQS delivery is authorised by the queue policy bus writes).",
            },
            "SigningCertURL": {"type": "string"},
            "UnsubscribeURL": {"type": "string"},
            "MessageAttributes": {
                "type": "object",
                "required": ["event_type", "event_version"],
                "properties": attributes,
            },
        },
    }


def _eventbridge_event(spec: EventSpec, version: int, envelope: Doc) -> Doc:
    return {
        "type": "object",
        "title": f"EventBridge event of {spec.name} v{version}",
        "description": "An EventBridge event (as a rule's target receives it); `detail` is the "
        "envelope.",
        "required": [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ],
        "properties": {
            "version": {"type": "string", "const": "0"},
            "id": {"type": "string", "description": "EventBridge event id."},
            "detail-type": {"type": "string", "const": spec.cloudevents_type},
            "source": {"type": "string", "const": spec.source},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": envelope,
        },
    }


def _message(spec: EventSpec, message: Message, model_schema: Doc) -> Doc:
    version, form = message.version, message.form
    envelope = {"$ref": f"#/components/schemas/{_envelope_id(spec.name, version)}"}
    out: Doc = {"name": message.id, "title": f"{spec.name} v{version}"}
    if form == RAW:
        out["title"] += " (envelope, message attributes as headers)"
        out["correlationId"] = {"location": "$message.payload#/correlationid"}
        out["headers"] = _headers(spec, version, model_schema)
        out["payload"] = envelope
    elif form == SNS:
        out["title"] += " in an SNS notification"
        out["payload"] = _sns_notification(spec, version, model_schema, envelope)
    elif form == EVENTBRIDGE:
        out["title"] += " in an EventBridge event"
        out["correlationId"] = {"location": "$message.payload#/detail/correlationid"}
        out["payload"] = _eventbridge_event(spec, version, envelope)
    elif form == DETAIL:
        out["title"] += " (envelope from EventBridge's detail, no headers)"
        out["correlationId"] = {"location": "$message.payload#/correlationid"}
        out["payload"] = envelope
    else:
        out["title"] += " shaped by a rule target's input path or transformer"
        out["payload"] = {
            "description": "Whatever the target's input_path or input_transformer makes of the "
            f"EventBridge event (#/components/schemas/{_envelope_id(spec.name, version)} is its "
            "detail)."
        }
    out["contentType"] = CONTENT_TYPE
    doc = (_models(spec)[version].__doc__ or "").strip()
    if doc and _models(spec)[version].__doc__ != BaseModel.__doc__:
        out["summary"] = doc.splitlines()[0]
    out["x-bus-version"] = version
    if message.current:
        out["x-bus-previous-versions"] = [p.version for p in spec.previous_versions]
    return out


def components(registry: Registry, used: Iterable[Message]) -> Doc:
    """Component schemas (models and envelopes of every version) and the messages ``used``."""
    schemas, refs = _schemas(registry)
    for spec in registry:
        for version in sorted(_models(spec), reverse=True):
            schemas[_envelope_id(spec.name, version)] = envelope_schema(
                spec, version, refs[(spec.name, version)]
            )
    messages: dict[str, Doc] = {}
    for message in ordered(used):
        spec = registry.spec(message.event)
        ref = str(refs[(spec.name, message.version)]["$ref"]).rsplit("/", 1)[-1]
        messages[message.id] = _message(spec, message, schemas.get(ref, {}))
    return {"schemas": schemas, "messages": messages}
