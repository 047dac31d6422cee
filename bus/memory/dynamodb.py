"""In-memory DynamoDB: the table catalogue as ``bus apply`` manages it (create, describe, TTL,
update, tag, list, delete), for idempotency tables declared in the topology.

Tables hold no items: the DynamoDB idempotency store runs against DynamoDB itself (or the
embedded emulator's), not against the in-memory AWS. Tables are ``ACTIVE`` at once.
"""

from __future__ import annotations

from typing import Any

from bus.memory.errors import client_error, ok
from bus.memory.world import World

_LIST_PAGE = 100


class MemoryDynamoDB:
    def __init__(self, world: World) -> None:
        self.world = world
        self.tables: dict[str, dict[str, Any]] = {}
        self.ttl: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def _arn(self, name: str) -> str:
        w = self.world
        return f"arn:{w.partition}:dynamodb:{w.region}:{w.account_id}:table/{name}"

    def _table(self, operation: str, name: str) -> dict[str, Any]:
        if name not in self.tables:
            raise client_error(operation, "ResourceNotFoundException", f"Table {name} not found")
        return self.tables[name]

    def _by_arn(self, operation: str, arn: str) -> str:
        name = arn.rsplit("/", 1)[-1]
        self._table(operation, name)
        return arn

    async def create_table(self, **request: Any) -> dict[str, Any]:
        name = str(request["TableName"])
        if name in self.tables:
            raise client_error("CreateTable", "ResourceInUseException", f"Table {name} exists")
        sse = request.get("SSESpecification") or {}
        table: dict[str, Any] = {
            "TableName": name,
            "TableArn": self._arn(name),
            "TableStatus": "ACTIVE",
            "KeySchema": request["KeySchema"],
            "AttributeDefinitions": request["AttributeDefinitions"],
            "BillingModeSummary": {"BillingMode": request.get("BillingMode", "PROVISIONED")},
        }
        if sse.get("Enabled"):
            table["SSEDescription"] = {"Status": "ENABLED", "SSEType": sse.get("SSEType", "KMS")}
        self.tables[name] = table
        self.tags[table["TableArn"]] = {t["Key"]: t["Value"] for t in request.get("Tags", [])}
        return ok(TableDescription=dict(table))

    async def describe_table(self, *, TableName: str) -> dict[str, Any]:
        return ok(Table=dict(self._table("DescribeTable", TableName)))

    async def update_table(self, **request: Any) -> dict[str, Any]:
        table = self._table("UpdateTable", request["TableName"])
        if "BillingMode" in request:
            table["BillingModeSummary"] = {"BillingMode": request["BillingMode"]}
        sse = request.get("SSESpecification")
        if sse is not None:
            table.pop("SSEDescription", None)
            if sse.get("Enabled"):
                table["SSEDescription"] = {
                    "Status": "ENABLED",
                    "SSEType": sse.get("SSEType", "KMS"),
                }
        return ok(TableDescription=dict(table))

    async def update_time_to_live(self, **request: Any) -> dict[str, Any]:
        name, spec = request["TableName"], request["TimeToLiveSpecification"]
        self._table("UpdateTimeToLive", name)
        status = "ENABLED" if spec["Enabled"] else "DISABLED"
        self.ttl[name] = {"TimeToLiveStatus": status, "AttributeName": spec["AttributeName"]}
        return ok(TimeToLiveSpecification=spec)

    async def describe_time_to_live(self, *, TableName: str) -> dict[str, Any]:
        self._table("DescribeTimeToLive", TableName)
        ttl = self.ttl.get(TableName, {"TimeToLiveStatus": "DISABLED"})
        return ok(TimeToLiveDescription=dict(ttl))

    async def list_tables(self, **request: Any) -> dict[str, Any]:
        after = request.get("ExclusiveStartTableName", "")
        names = [n for n in sorted(self.tables) if n > after]
        page = names[:_LIST_PAGE]
        more = {"LastEvaluatedTableName": page[-1]} if len(names) > _LIST_PAGE else {}
        return ok(TableNames=page, **more)

    async def list_tags_of_resource(self, *, ResourceArn: str, **_: Any) -> dict[str, Any]:
        tags = self.tags.get(self._by_arn("ListTagsOfResource", ResourceArn), {})
        return ok(Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])

    async def tag_resource(self, *, ResourceArn: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        arn = self._by_arn("TagResource", ResourceArn)
        self.tags.setdefault(arn, {}).update({t["Key"]: t["Value"] for t in Tags})
        return ok()

    async def untag_resource(self, *, ResourceArn: str, TagKeys: list[str]) -> dict[str, Any]:
        arn = self._by_arn("UntagResource", ResourceArn)
        for key in TagKeys:
            self.tags.get(arn, {}).pop(key, None)
        return ok()

    async def delete_table(self, *, TableName: str) -> dict[str, Any]:
        table = self._table("DeleteTable", TableName)
        del self.tables[TableName]
        self.ttl.pop(TableName, None)
        self.tags.pop(table["TableArn"], None)
        return ok(TableDescription=table)
