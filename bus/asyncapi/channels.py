"""Channels and operations of the AsyncAPI document.

Channels: one per SNS topic (``topic.<name>``), SQS queue (``queue.<name>``) and EventBridge bus
(``bus.<name>``), each with its ARN address, its servers, its SNS or SQS binding (a bus: its rules,
as ``x-eventbridge-rules``) and the messages that travel through it. Operations: ``send`` for every
destination events are published to (a topic's carries its subscriptions in the SNS binding),
``receive`` for every queue that has handlers.
"""

from __future__ import annotations

from collections.abc import Iterable

from bus.asyncapi import bindings
from bus.asyncapi.bindings import Doc
from bus.asyncapi.routes import (
    EVENTBRIDGE,
    RAW,
    Message,
    events_in_queue,
    events_to,
    ordered,
    versions,
)
from bus.asyncapi.rules import rule_doc
from bus.schema.registry import Registry
from bus.topology.model import DEFAULT_BUS, Destination, Topology


def _message_refs(messages: Iterable[Message]) -> Doc:
    return {m.id: {"$ref": f"#/components/messages/{m.id}"} for m in ordered(messages)}


def _topic_channels(
    topology: Topology, registry: Registry, env: str | None
) -> Iterable[tuple[str, Doc, list[Message]]]:
    for name, topic in topology.topics.items():
        messages = [
            m for e in events_to(registry, "topic", name) for m in versions(registry, e, RAW)
        ]
        channel: Doc = {
            "title": f"SNS topic {name}",
            "description": f"SNS {'FIFO ' if topic.fifo else ''}topic.",
            "bindings": {"sns": bindings.sns_channel(topology, name, env)},
        }
        yield f"topic.{name}", channel, messages


def _bus_channels(
    topology: Topology, registry: Registry, env: str | None
) -> Iterable[tuple[str, Doc, list[Message]]]:
    used = [*topology.buses, *([DEFAULT_BUS] if events_to(registry, "bus", DEFAULT_BUS) else [])]
    used += [r.bus for r in topology.rules.values() if r.bus not in used]
    for name in used:
        messages = [
            m for e in events_to(registry, "bus", name) for m in versions(registry, e, EVENTBRIDGE)
        ]
        rules = sorted(r for r, rule in topology.rules.items() if rule.bus == name)
        channel: Doc = {
            "title": f"EventBridge bus {name}",
            "description": (
                "EventBridge event bus: each event's Source and DetailType are the envelope's "
                "source and type, its detail the envelope; no message attributes."
                + (f" Rules: {', '.join(rules)} (x-eventbridge-rules)." if rules else "")
            ),
        }
        if rules:
            channel["x-eventbridge-rules"] = {
                r: rule_doc(topology, registry, r, env) for r in rules
            }
        yield f"bus.{name}", channel, messages


def _queue_channels(
    topology: Topology, registry: Registry, env: str | None
) -> Iterable[tuple[str, Doc, list[Message]]]:
    queues = topology.all_queues()
    for name, queue in queues.items():
        dead = topology.is_dead_letter_queue(name)
        events = {} if dead else events_in_queue(topology, registry, name)
        messages = [
            m
            for event, forms in events.items()
            for f in forms
            for m in versions(registry, event, f)
        ]
        feeds = [
            f"SNS topic {s.topic}{' (raw delivery)' if s.raw_message_delivery else ''}"
            for s in topology.subscriptions_of_queue(name)
        ] + [f"EventBridge rule {rule}" for rule, _ in topology.targets_of_queue(name)]
        role = " (dead-letter queue)" if dead else ""
        fed = f" Fed by {', '.join(feeds)}." if feeds else ""
        channel: Doc = {
            "title": f"SQS queue {name}",
            "description": f"SQS {'FIFO ' if queue.fifo else ''}queue{role}.{fed}",
            "bindings": {"sqs": bindings.sqs_channel(topology, name, queues, env)},
        }
        yield f"queue.{name}", channel, messages


def channels(
    topology: Topology, registry: Registry, env: str | None
) -> tuple[dict[str, Doc], dict[str, list[Message]]]:
    """Every channel, and the messages each carries."""
    out: dict[str, Doc] = {}
    carried: dict[str, list[Message]] = {}
    for make in (_topic_channels, _bus_channels, _queue_channels):
        for cid, channel, messages in make(topology, registry, env):
            kind, name = cid.split(".", 1)
            out[cid] = {
                "address": bindings.address(kind, name, env),
                **channel,
                "servers": bindings.channel_servers(kind),
                "parameters": bindings.address_parameters(),
                "messages": _message_refs(messages),
            }
            carried[cid] = messages
    return out, carried


def _operation_refs(channel_id: str, messages: Iterable[Message]) -> list[Doc]:
    return [{"$ref": f"#/channels/{channel_id}/messages/{m.id}"} for m in ordered(messages)]


def _destination(d: Destination) -> tuple[str, str]:
    """The channel id of a destination and the shape its events take there."""
    if d.topic is not None:
        return f"topic.{d.topic}", RAW
    if d.bus is not None:
        return f"bus.{d.bus}", EVENTBRIDGE
    return f"queue.{d.queue}", RAW


def _send_bindings(topology: Topology, cid: str, env: str | None) -> Doc | None:
    kind, name = cid.split(".", 1)
    if kind == "topic":
        sns = bindings.sns_operation(topology, name, env)
        return None if sns is None else {"sns": sns}
    if kind == "queue":
        return {"sqs": bindings.sqs_operation(topology, name, topology.all_queues(), env)}
    return None


def operations(
    topology: Topology,
    registry: Registry,
    titles: dict[str, Doc],
    carried: dict[str, list[Message]],
    env: str | None,
) -> dict[str, Doc]:
    out: dict[str, Doc] = {}
    sends: dict[str, list[Message]] = {}
    for spec in registry:
        for d in spec.destinations:
            cid, form = _destination(d)
            sends.setdefault(cid, []).append(Message(spec.name, spec.version, form, True))
    for cid, messages in sorted(sends.items()):
        operation: Doc = {
            "action": "send",
            "title": f"Publish to {titles[cid]['title']}",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": _operation_refs(cid, messages),
        }
        found = _send_bindings(topology, cid, env)
        if found is not None:
            operation["bindings"] = found
        out[f"send.{cid}"] = operation
    queues = topology.all_queues()
    for queue, binding in topology.handlers.items():
        cid = f"queue.{queue}"
        handled = [m for m in carried.get(cid, []) if m.event in binding.events]
        out[f"receive.{cid}"] = {
            "action": "receive",
            "title": f"Handle {', '.join(binding.events)} from {queue}",
            "summary": ", ".join(f"{e}: {path}" for e, path in binding.events.items()),
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": _operation_refs(cid, handled),
            "bindings": {"sqs": bindings.sqs_operation(topology, queue, queues, env)},
        }
    return out
