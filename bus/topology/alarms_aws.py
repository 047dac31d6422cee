"""CloudWatch alarms against AWS: read them back (``observe_alarms``) and write them
(``put_alarm``, ``update_alarm``, ``delete_alarm``), for ``bus.topology.observe`` and ``apply``.

Alarms are looked up by name (``DescribeAlarms``, 100 names a call); when pruning, every metric
alarm whose name starts with the environment prefix is read too, and those carrying this topology's
ownership tags count as owned. ``PutMetricAlarm`` creates and replaces an alarm whole; it ignores
``Tags`` when the alarm exists, so tags are set with ``TagResource`` after every create (LocalStack
4.13.1 ignores them on create too) and changed with ``TagResource``/``UntagResource``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bus.topology.alarms import number
from bus.topology.resolve import Resource, dumps

if TYPE_CHECKING:
    from types_aiobotocore_cloudwatch.type_defs import MetricAlarmTypeDef

    from bus.topology.apply import Applier
    from bus.topology.observe import Observer, Scope
    from bus.topology.plan import Update

DESCRIBE_BATCH = 100
"""``DescribeAlarms`` takes at most 100 ``AlarmNames``."""
MISSING_ALARM = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
INTEGERS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")
STRINGS = ("Namespace", "MetricName", "Statistic", "ComparisonOperator", "TreatMissingData",
           "AlarmDescription")  # fmt: skip
JSON_LISTS = ("Dimensions", "AlarmActions", "OKActions")


# -- observe --------------------------------------------------------------------------------------


async def observe_alarms(observer: Observer, names: Sequence[str]) -> list[Resource]:
    """The alarms named ``names`` that exist, and (when pruning) the environment's owned ones."""
    cw = observer.aws.cloudwatch
    found: list[MetricAlarmTypeDef] = []
    for start in range(0, len(names), DESCRIBE_BATCH):
        batch = list(names[start : start + DESCRIBE_BATCH])
        found += await _describe(observer, AlarmNames=batch)
    if observer.scope.prune:
        listed = await _describe(observer, **_prefix(observer.scope.prefix))
        known = {a["AlarmName"] for a in found}
        found += [a for a in listed if a["AlarmName"] not in known]
    tags = await asyncio.gather(*(
        observer.call("ListTagsForResource", cw.list_tags_for_resource, MISSING_ALARM,
                      ResourceARN=a["AlarmArn"])
        for a in found
    ))  # fmt: skip
    wanted = set(names)
    out = []
    for alarm, got in zip(found, tags, strict=True):
        if got is None:
            continue  # deleted while we looked
        tag_map = {t["Key"]: t["Value"] for t in got.get("Tags", [])}
        resource = read_alarm(alarm, tag_map, observer.scope)
        if resource.name in wanted or resource.owned:
            out.append(resource)
    return out


def _prefix(prefix: str) -> dict[str, str]:
    return {"AlarmNamePrefix": prefix} if prefix else {}


async def _describe(observer: Observer, **kwargs: Any) -> list[MetricAlarmTypeDef]:
    alarms: list[MetricAlarmTypeDef] = []
    cw = observer.aws.cloudwatch
    while True:
        page = await observer.must("DescribeAlarms", cw.describe_alarms,
                                   AlarmTypes=["MetricAlarm"], **kwargs)  # fmt: skip
        alarms += page.get("MetricAlarms", [])
        if not page.get("NextToken"):
            return alarms
        kwargs["NextToken"] = page["NextToken"]


def read_alarm(alarm: MetricAlarmTypeDef | Mapping[str, Any], tags: Mapping[str, str],
               scope: Scope) -> Resource:  # fmt: skip
    """A ``DescribeAlarms`` entry as a ``Resource``, in the form ``alarm_resources`` writes."""
    raw: Mapping[str, Any] = alarm
    attributes = {k: str(raw.get(k, "")) for k in STRINGS}
    attributes |= {k: str(raw[k]) if k in raw else "" for k in INTEGERS}
    dimensions = [{"Name": d["Name"], "Value": d["Value"]} for d in raw.get("Dimensions", [])]
    attributes["Dimensions"] = dumps(sorted(dimensions, key=lambda d: d["Name"]))
    attributes["Threshold"] = number(raw.get("Threshold"))
    attributes["AlarmActions"] = dumps(sorted(raw.get("AlarmActions", [])))
    attributes["OKActions"] = dumps(sorted(raw.get("OKActions", [])))
    return Resource(kind="alarm", name=str(raw["AlarmName"]), attributes=attributes,
                    tags=dict(tags), ref={"arn": str(raw["AlarmArn"])},
                    owned=scope.owns(tags))  # fmt: skip


# -- apply ----------------------------------------------------------------------------------------


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def put_request(r: Resource) -> dict[str, Any]:
    """The ``PutMetricAlarm`` arguments for desired alarm ``r`` (without its tags)."""
    a = r.attributes
    request: dict[str, Any] = {"AlarmName": r.name, "ActionsEnabled": True}
    request |= {k: a[k] for k in STRINGS}
    request |= {k: int(a[k]) for k in INTEGERS}
    request["Threshold"] = float(a["Threshold"])
    request |= {k: json.loads(a[k]) for k in JSON_LISTS}
    return request


async def put_alarm(applier: Applier, r: Resource, *, tag: bool = True) -> None:
    """``PutMetricAlarm`` with every attribute of ``r``; with ``tag``, then its tags."""
    cw = applier.aws.cloudwatch
    tags = _tag_list(dict(r.tags or {}))
    request = put_request(r) | ({"Tags": tags} if tag else {})
    await applier.call("PutMetricAlarm", cw.put_metric_alarm, **request)
    if tag and tags:
        await applier.call("TagResource", cw.tag_resource, ResourceARN=r.ref["arn"], Tags=tags)


async def update_alarm(applier: Applier, updates: Sequence[Update]) -> None:
    """Put the whole alarm again when an attribute changed; then change its tags."""
    if any(not u.is_tag for u in updates):
        await put_alarm(applier, updates[0].resource, tag=False)
    cw, arn = applier.aws.cloudwatch, updates[0].current.ref["arn"]
    await applier._tags(
        updates,
        lambda tags: applier.call("TagResource", cw.tag_resource, ResourceARN=arn,
                                  Tags=_tag_list(tags)),
        lambda keys: applier.call("UntagResource", cw.untag_resource, ResourceARN=arn,
                                  TagKeys=keys),
    )  # fmt: skip


async def delete_alarm(applier: Applier, r: Resource) -> None:
    await applier.call("DeleteAlarms", applier.aws.cloudwatch.delete_alarms, MISSING_ALARM,
                       AlarmNames=[r.name])  # fmt: skip
