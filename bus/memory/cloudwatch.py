"""In-memory CloudWatch: metric alarms as ``bus apply`` manages them (put, describe, tag, delete).

Alarms are stored, never evaluated: the in-memory AWS records no metrics, so every alarm stays in
``INSUFFICIENT_DATA``. ``PutMetricAlarm`` replaces an alarm whole and, like AWS, ignores ``Tags``
when the alarm exists already.
"""

from __future__ import annotations

from typing import Any

from bus.memory.errors import client_error, ok
from bus.memory.world import World

_DESCRIBE_PAGE = 100


class MemoryCloudWatch:
    def __init__(self, world: World) -> None:
        self.world = world
        self.alarms: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def _arn(self, name: str) -> str:
        w = self.world
        return f"arn:{w.partition}:cloudwatch:{w.region}:{w.account_id}:alarm:{name}"

    async def put_metric_alarm(self, **request: Any) -> dict[str, Any]:
        name = str(request["AlarmName"])
        tags = request.pop("Tags", None)
        arn = self._arn(name)
        if name not in self.alarms and tags:
            self.tags[arn] = {t["Key"]: t["Value"] for t in tags}
        self.alarms[name] = {**request, "AlarmArn": arn, "StateValue": "INSUFFICIENT_DATA"}
        return ok()

    async def describe_alarms(self, **request: Any) -> dict[str, Any]:
        names = request.get("AlarmNames")
        prefix = request.get("AlarmNamePrefix", "")
        found = [
            dict(a)
            for n, a in sorted(self.alarms.items())
            if (names is None or n in names) and n.startswith(prefix)
        ]
        start = int(request.get("NextToken") or 0)
        page = found[start : start + _DESCRIBE_PAGE]
        more = start + _DESCRIBE_PAGE < len(found)
        return ok(MetricAlarms=page, CompositeAlarms=[],
                  **({"NextToken": str(start + _DESCRIBE_PAGE)} if more else {}))  # fmt: skip

    def _known(self, operation: str, arn: str) -> None:
        if not any(a["AlarmArn"] == arn for a in self.alarms.values()):
            raise client_error(operation, "ResourceNotFoundException", f"{arn} not found")

    async def list_tags_for_resource(self, *, ResourceARN: str) -> dict[str, Any]:
        self._known("ListTagsForResource", ResourceARN)
        tags = self.tags.get(ResourceARN, {})
        return ok(Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])

    async def tag_resource(self, *, ResourceARN: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        self._known("TagResource", ResourceARN)
        self.tags.setdefault(ResourceARN, {}).update({t["Key"]: t["Value"] for t in Tags})
        return ok()

    async def untag_resource(self, *, ResourceARN: str, TagKeys: list[str]) -> dict[str, Any]:
        self._known("UntagResource", ResourceARN)
        for key in TagKeys:
            self.tags.get(ResourceARN, {}).pop(key, None)
        return ok()

    async def delete_alarms(self, *, AlarmNames: list[str]) -> dict[str, Any]:
        for name in AlarmNames:
            alarm = self.alarms.pop(name, None)
            if alarm is not None:
                self.tags.pop(alarm["AlarmArn"], None)
        return ok()
