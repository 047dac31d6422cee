"""Servers, addresses and the SNS/SQS bindings of the AsyncAPI document.

Servers: SNS, SQS and EventBridge in the AWS region (a server variable), and the embedded emulator
(one port for all three). Addresses are ARNs, so every channel has its own even where a topic and
a queue share a name (``ledger.fifo``); the region and account id are channel parameters. Bindings
follow the official SNS 0.1.0 and SQS 0.2.0 bindings; what they have no field for (encryption,
message size, a filter policy with operators) is an ``x-`` extension of the binding.
"""

from __future__ import annotations

from typing import Any

from bus.topology.model import DEFAULT_BUS, Queue, Subscription, Topology, physical_name

Doc = dict[str, Any]

SNS_BINDING = "0.1.0"
SQS_BINDING = "0.2.0"
DEFAULT_REGION = "us-east-1"
EMULATOR_PORT = "4566"
ARN = {
    "topic": "arn:aws:sns:{region}:{accountId}:%s",
    "queue": "arn:aws:sqs:{region}:{accountId}:%s",
    "bus": "arn:aws:events:{region}:{accountId}:event-bus/%s",
}
SERVERS = {"topic": "sns", "queue": "sqs", "bus": "eventbridge"}


def servers(region: str | None) -> Doc:
    variables = {
        "region": {
            "default": region or DEFAULT_REGION,
            "description": "The AWS region (AWS_REGION, or the profile's).",
        }
    }

    def aws(service: str, protocol: str, title: str) -> Doc:
        return {
            "host": f"{service}.{{region}}.amazonaws.com",
            "protocol": protocol,
            "title": title,
            "variables": variables,
        }

    return {
        "sns": aws("sns", "sns", "Amazon SNS"),
        "sqs": aws("sqs", "sqs", "Amazon SQS"),
        "eventbridge": {
            **aws("events", "https", "Amazon EventBridge"),
            "description": "PutEvents over HTTPS; rules deliver to SQS targets.",
        },
        "emulator": {
            "host": "localhost:{port}",
            "protocol": "http",
            "title": "Embedded emulator",
            "description": (
                "LocalStack as `bus emulator start` runs it: SNS, SQS and EventBridge on one "
                "port (it prints the port and the AWS_ENDPOINT_URL to use)."
            ),
            "variables": {"port": {"default": EMULATOR_PORT, "description": "Its port."}},
        },
    }


def parameters(region: str | None) -> Doc:
    """Component parameters of the ARN addresses."""
    return {
        "region": {
            "default": region or DEFAULT_REGION,
            "description": "The AWS region of the resource.",
        },
        "accountId": {
            "description": "The AWS account id (000000000000 on the emulator).",
            "examples": ["000000000000"],
        },
    }


def address(kind: str, name: str, env: str | None) -> str:
    physical = name if kind == "bus" and name == DEFAULT_BUS else physical_name(name, env)
    return ARN[kind] % physical


def channel_servers(kind: str) -> list[Doc]:
    return [{"$ref": f"#/servers/{SERVERS[kind]}"}, {"$ref": "#/servers/emulator"}]


def address_parameters() -> Doc:
    return {p: {"$ref": f"#/components/parameters/{p}"} for p in ("region", "accountId")}


def sns_channel(topology: Topology, name: str, env: str | None) -> Doc:
    topic = topology.topics[name]
    out: Doc = {
        "name": physical_name(name, env),
        "ordering": {
            "type": "FIFO" if topic.fifo else "standard",
            "contentBasedDeduplication": topic.content_based_deduplication,
        },
        "bindingVersion": SNS_BINDING,
    }
    if topic.tags:
        out["tags"] = dict(topic.tags)
    return out


def sqs_queue(topology: Topology, name: str, queue: Queue, env: str | None) -> Doc:
    """An SQS binding's queue object: the queue's attributes as bus creates it."""
    out: Doc = {
        "name": physical_name(name, env),
        "fifoQueue": queue.fifo,
        "deliveryDelay": queue.delay_seconds,
        "visibilityTimeout": queue.visibility_timeout,
        "receiveMessageWaitTime": queue.receive_message_wait_time,
        "messageRetentionPeriod": queue.message_retention_period,
    }
    if queue.fifo:
        out["deduplicationScope"] = queue.deduplication_scope or "queue"
        out["fifoThroughputLimit"] = queue.fifo_throughput_limit or "perQueue"
        out["x-contentBasedDeduplication"] = queue.content_based_deduplication
    dlq = topology.dead_letter_of(name)
    if dlq is not None:
        out["redrivePolicy"] = {
            "deadLetterQueue": {"name": physical_name(dlq[0], env)},
            "maxReceiveCount": dlq[1],
        }
    if queue.tags:
        out["tags"] = dict(queue.tags)
    out["x-maximumMessageSize"] = queue.maximum_message_size
    out["x-encryption"] = (
        {"type": "kms", "kmsMasterKeyId": queue.kms_master_key_id}
        if queue.encryption == "kms"
        else {"type": queue.encryption}
    )
    return out


def sqs_channel(topology: Topology, name: str, queues: dict[str, Queue], env: str | None) -> Doc:
    out: Doc = {"queue": sqs_queue(topology, name, queues[name], env)}
    dlq = topology.dead_letter_of(name)
    if dlq is not None:
        out["deadLetterQueue"] = sqs_queue(topology, dlq[0], queues[dlq[0]], env)
    out["bindingVersion"] = SQS_BINDING
    return out


def sqs_operation(topology: Topology, name: str, queues: dict[str, Queue], env: str | None) -> Doc:
    return {"queues": [sqs_queue(topology, name, queues[name], env)], "bindingVersion": SQS_BINDING}


def _fits_binding(policy: dict[str, Any]) -> bool:
    """The SNS binding's ``filterPolicy`` takes, per key, a string, a list of strings or an object
    (a nested MessageBody policy); operators in a list (``numeric``, ``prefix``) do not fit."""
    return all(
        isinstance(v, str | dict) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
        for v in policy.values()
    )


def _consumer(sub: Subscription, env: str | None) -> Doc:
    out: Doc = {
        "protocol": "sqs",
        "endpoint": {"name": physical_name(sub.queue, env)},
        "rawMessageDelivery": sub.raw_message_delivery,
        "filterPolicyScope": sub.filter_policy_scope,
    }
    if sub.filter_policy is not None:
        key = "filterPolicy" if _fits_binding(sub.filter_policy) else "x-filterPolicy"
        out[key] = sub.filter_policy
    if sub.dead_letter_queue is not None:
        out["redrivePolicy"] = {
            "deadLetterQueue": {"name": physical_name(sub.dead_letter_queue, env)}
        }
    return out


def sns_operation(topology: Topology, topic: str, env: str | None) -> Doc | None:
    """The topic's subscriptions (queue, raw delivery, filter policy and its scope, SNS's own
    DLQ); ``None`` for a topic nothing subscribes to (the binding needs a consumer)."""
    consumers = [_consumer(s, env) for s in topology.subscriptions if s.topic == topic]
    if not consumers:
        return None
    return {
        "topic": {"name": physical_name(topic, env)},
        "consumers": consumers,
        "bindingVersion": SNS_BINDING,
    }
