"""DynamoDB idempotency tables against AWS: read them back (``observe_tables``) and write them
(``create_table``, ``update_table``, ``delete_table``), for ``bus.topology.observe`` and ``apply``.

Tables are looked up by name (``DescribeTable``, ``DescribeTimeToLive``, ``ListTagsOfResource``);
when pruning, ``ListTables`` names every table with the environment prefix, and those carrying this
topology's ownership tags count as owned. ``CreateTable`` returns while the table is ``CREATING``:
bus waits for ``ACTIVE`` before it enables TTL (``UpdateTimeToLive``), which AWS refuses earlier.
A table's key schema cannot change (a replace-required change); its billing mode and encryption
change with ``UpdateTable``, its TTL attribute with ``UpdateTimeToLive`` (AWS allows one TTL change
an hour), its tags with ``TagResource``/``UntagResource``. Deleting a table deletes what it
remembers: later copies of events handled before run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bus.errors import AwsError
from bus.middleware.idempotency_dynamodb import KEY
from bus.topology.idempotency_tables import SSE_TYPE
from bus.topology.resolve import Resource

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import TableDescriptionTypeDef

    from bus.topology.apply import Applier
    from bus.topology.observe import Observer, Scope
    from bus.topology.plan import Update

MISSING_TABLE = frozenset({"ResourceNotFoundException"})
TTL_ON = frozenset({"ENABLED", "ENABLING"})
SSE_ON = frozenset({"ENABLED", "ENABLING", "UPDATING"})
ACTIVE_WAIT = 600.0
"""Seconds ``create_table`` waits for a new table to become ``ACTIVE`` (usually seconds)."""


# -- observe --------------------------------------------------------------------------------------


async def observe_tables(observer: Observer, names: Sequence[str]) -> list[Resource]:
    """The tables named ``names`` that exist, and (when pruning) the environment's owned ones."""
    found = list(names)
    if observer.scope.prune:
        found += [n for n in await _list(observer) if n not in set(names)]
    if not found:
        return []
    read = await asyncio.gather(*(_table(observer, name) for name in found))
    wanted = set(names)
    return [r for r in read if r is not None and (r.name in wanted or r.owned)]


async def _list(observer: Observer) -> list[str]:
    db, prefix = observer.aws.dynamodb, observer.scope.prefix
    out: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = await observer.must("ListTables", db.list_tables, **kwargs)
        out += [n for n in page.get("TableNames", []) if n.startswith(prefix)]
        if not page.get("LastEvaluatedTableName"):
            return out
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]


async def _table(observer: Observer, name: str) -> Resource | None:
    db = observer.aws.dynamodb
    described = await observer.call("DescribeTable", db.describe_table, MISSING_TABLE,
                                    TableName=name)  # fmt: skip
    if described is None or described["Table"].get("TableStatus") == "DELETING":
        return None
    table = described["Table"]
    ttl, tags = await asyncio.gather(
        observer.call("DescribeTimeToLive", db.describe_time_to_live, MISSING_TABLE,
                      TableName=name),
        _tags(observer, table["TableArn"]),
    )  # fmt: skip
    if ttl is None or tags is None:
        return None  # deleted while we looked
    ttl_attribute = ""
    spec = ttl.get("TimeToLiveDescription", {})
    if spec.get("TimeToLiveStatus") in TTL_ON:
        ttl_attribute = spec.get("AttributeName", "")
    return read_table(table, ttl_attribute, tags, observer.scope)


async def _tags(observer: Observer, arn: str) -> dict[str, str] | None:
    db = observer.aws.dynamodb
    out: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = await observer.call("ListTagsOfResource", db.list_tags_of_resource,
                                   MISSING_TABLE, **kwargs)  # fmt: skip
        if page is None:
            return None
        out |= {t["Key"]: t["Value"] for t in page.get("Tags", [])}
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def read_table(
    table: TableDescriptionTypeDef | Mapping[str, Any],
    ttl_attribute: str,
    tags: Mapping[str, str],
    scope: Scope,
) -> Resource:
    """A ``DescribeTable`` answer (and the TTL attribute, if enabled) as a ``Resource``, in the
    form ``table_resources`` writes."""
    raw: Mapping[str, Any] = table
    billing = raw.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    sse = raw.get("SSEDescription") or {}
    attributes = {
        "BillingMode": str(billing),
        "KeySchema": _key_schema(raw),
        "TimeToLive": ttl_attribute,
        "SSEType": str(sse.get("SSEType", "")) if sse.get("Status") in SSE_ON else "",
    }
    return Resource(kind="table", name=str(raw["TableName"]), attributes=attributes,
                    tags=dict(tags), ref={"arn": str(raw["TableArn"])},
                    owned=scope.owns(tags))  # fmt: skip


def _key_schema(raw: Mapping[str, Any]) -> str:
    types = {a["AttributeName"]: a["AttributeType"] for a in raw.get("AttributeDefinitions", [])}
    keys = [f"{k['AttributeName']} ({types.get(k['AttributeName'], '?')}, {k['KeyType']})"
            for k in raw.get("KeySchema", [])]  # fmt: skip
    return ", ".join(keys)


# -- apply ----------------------------------------------------------------------------------------


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _sse(sse_type: str) -> dict[str, Any]:
    return {"Enabled": True, "SSEType": sse_type} if sse_type else {"Enabled": False}


async def create_table(applier: Applier, r: Resource) -> None:
    """``CreateTable`` (key, billing mode, encryption, tags), wait for ``ACTIVE``, enable TTL."""
    db, a = applier.aws.dynamodb, r.attributes
    await applier.call(
        "CreateTable", db.create_table,
        TableName=r.name,
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        BillingMode=a["BillingMode"],
        SSESpecification=_sse(a.get("SSEType", SSE_TYPE)),
        Tags=_tag_list(r.tags or {}),
    )  # fmt: skip
    await _until_active(applier, r.name)
    if a.get("TimeToLive"):
        await _time_to_live(applier, r.name, a["TimeToLive"], enabled=True)


async def _until_active(applier: Applier, name: str) -> None:
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + ACTIVE_WAIT, 0.2
    while True:
        got = await applier.call("DescribeTable", applier.aws.dynamodb.describe_table,
                                 TableName=name)  # fmt: skip
        status = got["Table"].get("TableStatus", "ACTIVE") if got else "ACTIVE"
        if status == "ACTIVE":
            return
        if loop.time() >= deadline:
            raise AwsError(f"table {name} is still {status} after {ACTIVE_WAIT:g} s",
                           code="TableNotActive", operation="CreateTable")  # fmt: skip
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


async def _time_to_live(applier: Applier, name: str, attribute: str, *, enabled: bool) -> None:
    await applier.call(
        "UpdateTimeToLive", applier.aws.dynamodb.update_time_to_live, TableName=name,
        TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute},
    )  # fmt: skip


async def update_table(applier: Applier, updates: Sequence[Update]) -> None:
    """Billing mode and encryption with ``UpdateTable``; TTL with ``UpdateTimeToLive`` (the old
    attribute off first); then the tags."""
    db, name = applier.aws.dynamodb, updates[0].resource.name
    for u in updates:
        if u.attribute == "BillingMode":
            await applier.call("UpdateTable", db.update_table, TableName=name,
                               BillingMode=u.new)  # fmt: skip
            await _until_active(applier, name)
        elif u.attribute == "SSEType":
            await applier.call("UpdateTable", db.update_table, TableName=name,
                               SSESpecification=_sse(u.new))  # fmt: skip
            await _until_active(applier, name)
        elif u.attribute == "TimeToLive":
            if u.old:
                await _time_to_live(applier, name, u.old, enabled=False)
            if u.new:
                await _time_to_live(applier, name, u.new, enabled=True)
    arn = updates[0].current.ref["arn"]
    await applier._tags(
        updates,
        lambda tags: applier.call("TagResource", db.tag_resource, ResourceArn=arn,
                                  Tags=_tag_list(tags)),
        lambda keys: applier.call("UntagResource", db.untag_resource, ResourceArn=arn,
                                  TagKeys=keys),
    )  # fmt: skip


async def delete_table(applier: Applier, r: Resource) -> None:
    await applier.call("DeleteTable", applier.aws.dynamodb.delete_table, MISSING_TABLE,
                       TableName=r.name)  # fmt: skip
