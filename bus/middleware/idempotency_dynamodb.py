"""The DynamoDB idempotency store: one item per claimed key, shared by every worker process.

The contract is ``bus.middleware.idempotency.IdempotencyStore``; each method is one conditional
DynamoDB write, atomic on the server:

- ``claim``: ``PutItem`` of an in-progress item, on the condition that no item holds the key, or
  that the one holding it has outlived its TTL, or that it is in progress with its claim expired
  (a worker that died while handling). Refused, the answer carries the item that won
  (``ReturnValuesOnConditionCheckFailure=ALL_OLD``): ``completed`` (with its cached result) or
  ``in-progress``.
- ``complete``: ``UpdateItem`` to ``completed``, with the cached result and a fresh TTL.
- ``release``: ``DeleteItem`` on the condition that the item is still in progress under this
  claim (a completed item is never forgotten, and a claim retaken by another worker after this
  one expired is not dropped by this one's late release).

An item (the table's key is ``id``, a string)::

    id                 "<queue>:<event id>"
    status             "in-progress" | "completed"
    in_progress_until  epoch seconds (number): when an in-progress claim may be retaken
    owner              a random token naming the claim (which ``release`` checks)
    expires_at         epoch seconds (number): the table's TTL attribute; DynamoDB deletes the
                       item some time after it, and bus treats it as gone from that moment
    result             the cached result (string), when ``complete`` was given one

Times are the workers' wall clocks (``time.time``): clocks skewed by more than a claim's expiry
would let a claim be retaken early. The table is declared in topology.yaml and created by
``bus apply`` (``bus.topology.idempotency_tables``); the calls take the DynamoDB client at
aiobotocore's method level (``AwsClients.dynamodb``, read at each call: a worker builds its
stores before it opens its clients), every one inside ``aws_errors``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bus.aws.errors import aws_errors
from bus.errors import AwsError
from bus.middleware.idempotency import Claim

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

KEY = "id"
STATUS = "status"
UNTIL = "in_progress_until"
OWNER = "owner"
TTL_ATTRIBUTE = "expires_at"
RESULT = "result"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
CONDITION_FAILED = "ConditionalCheckFailedException"
DEFAULT_TTL = 7 * 86_400.0
"""Seconds a completed key is remembered (``ttl`` in topology.yaml)."""
_CLAIM_ATTEMPTS = 3
"""A refused claim whose winner vanished before it could be read (released, or deleted by TTL)
is tried again, at most this many times in all."""

CLAIM_NAMES = {"#id": KEY, "#st": STATUS, "#until": UNTIL, "#exp": TTL_ATTRIBUTE}
CLAIM_CONDITION = "attribute_not_exists(#id) OR #exp < :now OR (#st = :in AND #until < :now)"


def _number(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


class DynamoDB(Protocol):
    """Where the store finds its client: ``AwsClients`` (opened before the first claim)."""

    @property
    def dynamodb(self) -> DynamoDBClient: ...


class DynamoDBStore:
    """An ``IdempotencyStore`` in DynamoDB table ``table`` (its physical name)."""

    def __init__(
        self,
        aws: DynamoDB,
        table: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws = aws
        self.table = table
        self.ttl = ttl
        """Seconds a completed key is remembered; then a copy of the event runs again."""
        self.clock = clock
        self._owners: dict[str, str] = {}
        """key -> the token of this store's claim on it, until it is completed or released."""

    async def ready(self) -> None:
        """Check, before the first message, that the table exists (``DescribeTable``): a worker
        started before ``bus apply`` says so at once instead of failing every message."""
        try:
            with aws_errors("DescribeTable"):
                await self.aws.dynamodb.describe_table(TableName=self.table)
        except AwsError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            raise AwsError(
                f"idempotency table {self.table} does not exist: apply the topology first "
                "(bus apply)",
                code=exc.code,
                operation="DescribeTable",
            ) from exc

    def _key(self, key: str) -> dict[str, Any]:
        return {KEY: {"S": key}}

    async def claim(self, key: str, expires: float) -> Claim:
        for _ in range(_CLAIM_ATTEMPTS):
            held = await self._put_claim(key, expires)
            if held is None:
                return Claim("claimed")
            if held:
                return self._answer(held)
        return Claim("in-progress")  # it keeps changing hands: let this copy come back later

    async def _put_claim(self, key: str, expires: float) -> Mapping[str, Any] | None:
        """``None`` when claimed; else the item that holds ``key`` (``{}`` if it is gone)."""
        now = self.clock()
        owner = uuid.uuid4().hex
        item = {
            **self._key(key),
            STATUS: {"S": IN_PROGRESS},
            OWNER: {"S": owner},
            UNTIL: _number(now + expires),
            TTL_ATTRIBUTE: {"N": str(int(now + max(self.ttl, expires)) + 1)},
        }
        try:
            with aws_errors("PutItem"):
                await self.aws.dynamodb.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=CLAIM_CONDITION,
                    ExpressionAttributeNames=CLAIM_NAMES,
                    ExpressionAttributeValues={":now": _number(now), ":in": {"S": IN_PROGRESS}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except AwsError as exc:
            if exc.code != CONDITION_FAILED:
                raise
            old = getattr(exc.__cause__, "response", {}).get("Item")
            return old if old else await self._read(key)
        self._owners[key] = owner
        return None

    async def _read(self, key: str) -> Mapping[str, Any]:
        with aws_errors("GetItem"):
            got = await self.aws.dynamodb.get_item(
                TableName=self.table, Key=self._key(key), ConsistentRead=True
            )
        return got.get("Item", {})

    def _answer(self, held: Mapping[str, Any]) -> Claim:
        if held.get(STATUS, {}).get("S") == COMPLETED:
            result = held.get(RESULT, {}).get("S")
            return Claim("completed", result)
        return Claim("in-progress")

    async def complete(self, key: str, result: str | None = None) -> None:
        self._owners.pop(key, None)
        expires_at = {"N": str(int(self.clock() + self.ttl) + 1)}
        values: dict[str, Any] = {":done": {"S": COMPLETED}, ":exp": expires_at}
        update = "SET #st = :done, #exp = :exp"
        names = {"#st": STATUS, "#exp": TTL_ATTRIBUTE, "#until": UNTIL, "#res": RESULT,
                 "#owner": OWNER}  # fmt: skip
        if result is None:
            update += " REMOVE #until, #owner, #res"
        else:
            update += ", #res = :res REMOVE #until, #owner"
            values[":res"] = {"S": result}
        with aws_errors("UpdateItem"):
            await self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(key),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    async def release(self, key: str) -> None:
        condition = "#st = :in"
        names = {"#st": STATUS}
        values: dict[str, Any] = {":in": {"S": IN_PROGRESS}}
        owner = self._owners.pop(key, None)
        if owner is not None:
            condition += " AND #owner = :me"
            names["#owner"] = OWNER
            values[":me"] = {"S": owner}
        try:
            with aws_errors("DeleteItem"):
                await self.aws.dynamodb.delete_item(
                    TableName=self.table,
                    Key=self._key(key),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except AwsError as exc:
            if exc.code != CONDITION_FAILED:
                raise
            # completed meanwhile, retaken by another worker, or gone: nothing to release

    def __repr__(self) -> str:
        return f"DynamoDBStore(table={self.table!r}, ttl={self.ttl:g})"
