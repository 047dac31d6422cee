"""In-memory DynamoDB: the table catalogue as ``bus apply`` manages it (create, describe, TTL,
update, tag, list, delete), for idempotency tables declared in the topology, and the items the
DynamoDB idempotency store writes: ``PutItem``, ``GetItem``, ``UpdateItem``, ``DeleteItem`` with
condition and update expressions (``bus.memory.dynamodb_expr``), ``ReturnValues`` ``ALL_OLD`` /
``ALL_NEW`` and ``ReturnValuesOnConditionCheckFailure``.

Tables are ``ACTIVE`` at once. Time to live is recorded, not run: as in DynamoDB, where deletion
of expired items happens in the background within days, an expired item stays readable (the store
checks the expiry attribute itself). Not modelled: queries, scans, batch and transactional writes,
indexes, capacity.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bus.memory.dynamodb_expr import Expressions, Item, condition, update, validation
from bus.memory.errors import client_error, ok
from bus.memory.world import World

_LIST_PAGE = 100


class MemoryDynamoDB:
    def __init__(self, world: World) -> None:
        self.world = world
        self.tables: dict[str, dict[str, Any]] = {}
        self.ttl: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.items: dict[str, dict[tuple[tuple[str, str, str], ...], Item]] = {}

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
        self.items.pop(TableName, None)
        self.ttl.pop(TableName, None)
        self.tags.pop(table["TableArn"], None)
        return ok(TableDescription=table)

    # -- items ------------------------------------------------------------------------------------

    def _key(
        self, operation: str, table: str, given: Item, *, whole: bool = False
    ) -> tuple[tuple[str, str, str], ...]:
        """The item's primary key as a hashable value; ``ValidationException`` unless ``given``
        holds each key attribute with its declared type (and, unless it is a ``whole`` item,
        nothing else)."""
        described = self._table(operation, table)
        if not whole and len(given) != len(described["KeySchema"]):
            raise validation(operation, "The provided key element does not match the schema")
        types = {d["AttributeName"]: d["AttributeType"] for d in described["AttributeDefinitions"]}
        key = []
        for element in described["KeySchema"]:
            name = element["AttributeName"]
            value = given.get(name) or {}
            if list(value) != [types[name]]:
                raise validation(operation, "The provided key element does not match the schema")
            raw = str(value[types[name]])
            key.append(
                (name, types[name], str(Decimal(raw).normalize()) if types[name] == "N" else raw)
            )
        return tuple(key)

    def _check(self, operation: str, request: dict[str, Any], old: Item | None,
               exprs: Expressions) -> None:  # fmt: skip
        text = request.get("ConditionExpression")
        if text is None or condition(text, exprs)(old or {}):
            return
        error = client_error(operation, "ConditionalCheckFailedException",
                             "The conditional request failed")  # fmt: skip
        if old is not None and request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
            error.response["Item"] = dict(old)  # type: ignore[typeddict-unknown-key]
        raise error

    def _expressions(self, operation: str, request: dict[str, Any]) -> Expressions:
        for given in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if given in request and not request[given]:
                raise validation(operation, f"{given} must not be empty")
        return Expressions(operation, request.get("ExpressionAttributeNames") or {},
                           request.get("ExpressionAttributeValues") or {})  # fmt: skip

    async def put_item(self, **request: Any) -> dict[str, Any]:
        table, item = str(request["TableName"]), dict(request["Item"])
        key = self._key("PutItem", table, item, whole=True)
        rows = self.items.setdefault(table, {})
        exprs = self._expressions("PutItem", request)
        old = rows.get(key)
        self._check("PutItem", request, old, exprs)
        exprs.check_all_used()
        rows[key] = item
        return ok(**_returned(request.get("ReturnValues"), old, None, "PutItem"))

    async def get_item(self, **request: Any) -> dict[str, Any]:
        if "ProjectionExpression" in request:
            raise validation("GetItem", "ProjectionExpression is not supported by bus's in-memory "
                             "DynamoDB")  # fmt: skip
        table = str(request["TableName"])
        found = self.items.get(table, {}).get(self._key("GetItem", table, request["Key"]))
        return ok(Item=dict(found)) if found is not None else ok()

    async def delete_item(self, **request: Any) -> dict[str, Any]:
        table = str(request["TableName"])
        key = self._key("DeleteItem", table, request["Key"])
        rows = self.items.setdefault(table, {})
        exprs = self._expressions("DeleteItem", request)
        old = rows.get(key)
        self._check("DeleteItem", request, old, exprs)
        exprs.check_all_used()
        rows.pop(key, None)
        return ok(**_returned(request.get("ReturnValues"), old, None, "DeleteItem"))

    async def update_item(self, **request: Any) -> dict[str, Any]:
        table, given = str(request["TableName"]), dict(request["Key"])
        key = self._key("UpdateItem", table, given)
        rows = self.items.setdefault(table, {})
        exprs = self._expressions("UpdateItem", request)
        old = rows.get(key)
        self._check("UpdateItem", request, old, exprs)
        change = update(str(request.get("UpdateExpression", "")), exprs)
        exprs.check_all_used()
        new = change(dict(old) if old is not None else given)
        if any(name not in new or new[name] != given[name] for name in given):
            raise validation("UpdateItem", "Cannot update attribute in the item's key")
        rows[key] = new
        return ok(**_returned(request.get("ReturnValues"), old, new, "UpdateItem"))


def _returned(kind: str | None, old: Item | None, new: Item | None, operation: str) -> Item:
    if kind in (None, "NONE"):
        return {}
    if kind == "ALL_OLD":
        return {"Attributes": dict(old)} if old else {}
    if kind == "ALL_NEW" and new is not None:
        return {"Attributes": dict(new)}
    raise validation(operation, f"ReturnValues {kind} is not supported by bus's in-memory DynamoDB")
