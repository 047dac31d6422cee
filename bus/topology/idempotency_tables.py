"""The DynamoDB tables of ``idempotency: {store: dynamodb, ...}`` as topology resources (pure).

``declared_tables`` says which tables the topology declares (the top-level ``idempotency``'s, and
each handler queue's own) and which queues keep their handled event ids in each; ``table_resources``
turns them into ``Resource`` values in DynamoDB's terms, and ``table_graph`` adds them to
``bus graph``. The AWS side is ``bus.topology.idempotency_aws``.

Every table is the same shape, whatever its ``ttl`` (which only sets the items' expiry): key
``id`` (a string), on-demand capacity (``PAY_PER_REQUEST``), TTL enabled on ``expires_at``,
encrypted with the AWS-managed KMS key (``SSEType: KMS``), tagged like every bus resource. Its
physical name has the environment prefix (``dev-handled``). Two declarations naming one table
share it: keys carry the queue's name (``<queue>:<event id>``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from bus.middleware.idempotency_dynamodb import KEY, TTL_ATTRIBUTE
from bus.topology.idempotency_model import DYNAMODB
from bus.topology.model import Idempotency, Topology, physical_name
from bus.topology.resolve import Names, Resource

BILLING_MODE = "PAY_PER_REQUEST"
KEY_SCHEMA = f"{KEY} (S, HASH)"
"""How bus writes (and reads back) the key schema: attribute, type, key type."""
SSE_TYPE = "KMS"
"""Encrypted with the AWS-managed key ``alias/aws/dynamodb`` (a key of one's own would be
``KMSMasterKeyId``; not offered yet)."""


def _dynamodb(config: Idempotency | None) -> str | None:
    if config is None or config.store != DYNAMODB:
        return None
    return config.table


def declared_tables(topology: Topology) -> dict[str, list[str]]:
    """Logical table name -> the queues whose handlers it guards (in ``handlers`` order). The
    top-level store's table is declared even when no queue uses it yet."""
    out: dict[str, list[str]] = {}
    top = _dynamodb(topology.idempotency)
    if top is not None:
        out[top] = []
    for queue, binding in topology.handlers.items():
        if not binding.guarded:
            continue
        table = _dynamodb(binding.idempotency or topology.idempotency)
        if table is not None:
            out.setdefault(table, []).append(queue)
    return out


def table_name(logical: str, env: str | None) -> str:
    return physical_name(logical, env)


def table_resources(names: Names) -> list[Resource]:
    """The ``table`` resources of the topology in ``names``."""
    out = []
    for logical in declared_tables(names.topology):
        name = table_name(logical, names.env)
        attributes = {
            "BillingMode": BILLING_MODE,
            "KeySchema": KEY_SCHEMA,
            "TimeToLive": TTL_ATTRIBUTE,
            "SSEType": SSE_TYPE,
        }
        ref = {"arn": names.account.arn("dynamodb", f"table/{name}")}
        out.append(Resource("table", name, attributes, tags=dict(names.tags), ref=ref))
    return out


# -- graph ----------------------------------------------------------------------------------------

GraphKind = Literal["queue", "table"]
GraphNode = tuple[str, str, str]
"""(node id, label, detail)"""
GraphEdge = tuple[str, str, str]
"""(source id, target id, label); always dashed."""


def table_graph(
    topology: Topology, env: str | None, ids: Callable[[GraphKind, str], str]
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """A node per table, and a dashed edge from each queue whose handled ids it keeps."""
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    for logical, queues in declared_tables(topology).items():
        ident = ids("table", logical)
        nodes.append((ident, table_name(logical, env), "DynamoDB: handled event ids"))
        edges += [(ids("queue", queue), ident, "idempotency") for queue in queues]
    return nodes, edges
