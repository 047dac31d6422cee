"""SQS event source mappings against AWS Lambda: read them back (``observe_mappings``) and write
them (``create_mapping``, ``update_mapping``, ``delete_mapping``), for ``bus.topology.observe``
and ``apply``.

A desired mapping is looked up by its queue and function (``ListEventSourceMappings``); when
pruning, the mappings of every owned queue are listed too, and those carrying this topology's
ownership tags count as owned. Mappings being deleted (state ``Deleting``) are left out. Tags are
set on create and changed with ``TagResource``/``UntagResource`` on the mapping's ARN.
``UpdateEventSourceMapping`` sends every setting again; an empty ``ScalingConfig`` removes the
maximum concurrency. A mapping in state ``Updating`` reads as enabled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bus.topology.mappings import function_name
from bus.topology.resolve import Resource, dumps

if TYPE_CHECKING:
    from bus.topology.apply import Applier
    from bus.topology.observe import Observer, Scope
    from bus.topology.plan import Update

MISSING_MAPPING = frozenset({"ResourceNotFoundException"})
GONE = frozenset({"Deleting"})
DISABLED = frozenset({"Disabled", "Disabling"})


# -- observe --------------------------------------------------------------------------------------


async def observe_mappings(
    observer: Observer, desired: Sequence[Resource], owned_queues: set[str]
) -> list[Resource]:
    """The ``desired`` mappings that exist, and (when pruning) the owned ones of owned queues."""
    out: list[Resource] = []
    seen: set[str] = set()
    for r in desired:
        for esm in await _list(observer, EventSourceArn=r.ref["queue_arn"],
                               FunctionName=r.ref["function"]):  # fmt: skip
            if esm["UUID"] not in seen:
                seen.add(esm["UUID"])
                out.append(await _read(observer, esm, r.name))
    if observer.scope.prune:
        for arn in sorted(owned_queues):
            for esm in await _list(observer, EventSourceArn=arn):
                if esm["UUID"] not in seen:
                    seen.add(esm["UUID"])
                    name = f"{arn.rsplit(':', 1)[-1]} -> {function_name(esm['FunctionArn'])}"
                    found = await _read(observer, esm, name)
                    out += [found] if found.owned else []
    return out


async def _list(observer: Observer, **kwargs: Any) -> list[dict[str, Any]]:
    client = observer.aws.lambda_
    found: list[dict[str, Any]] = []
    while True:
        page = await observer.call(
            "ListEventSourceMappings", client.list_event_source_mappings, MISSING_MAPPING, **kwargs
        )
        if page is None:
            return found
        found += [dict(m) for m in page.get("EventSourceMappings", [])]
        if not page.get("NextMarker"):
            return [m for m in found if m.get("State") not in GONE]
        kwargs["Marker"] = page["NextMarker"]


async def _read(observer: Observer, esm: Mapping[str, Any], name: str) -> Resource:
    arn = str(esm.get("EventSourceMappingArn", ""))
    got = await observer.call(
        "ListTags", observer.aws.lambda_.list_tags, MISSING_MAPPING, Resource=arn
    )
    return read_mapping(esm, dict(got.get("Tags", {})) if got else {}, observer.scope, name)


def read_mapping(
    esm: Mapping[str, Any], tags: Mapping[str, str], scope: Scope, name: str
) -> Resource:
    """A ``ListEventSourceMappings`` entry as a ``Resource``, in the form ``mapping_resources``
    writes."""
    concurrency = (esm.get("ScalingConfig") or {}).get("MaximumConcurrency")
    attributes = {
        "BatchSize": str(esm.get("BatchSize", "")),
        "MaximumBatchingWindowInSeconds": str(esm.get("MaximumBatchingWindowInSeconds") or 0),
        "FunctionResponseTypes": dumps(sorted(esm.get("FunctionResponseTypes") or [])),
        "MaximumConcurrency": str(concurrency or ""),
        "Enabled": "false" if esm.get("State") in DISABLED else "true",
    }
    ref = {
        "uuid": str(esm["UUID"]),
        "arn": str(esm.get("EventSourceMappingArn", "")),
        "queue_arn": str(esm.get("EventSourceArn", "")),
        "function": str(esm.get("FunctionArn", "")),
    }
    return Resource(kind="mapping", name=name, attributes=attributes, tags=dict(tags), ref=ref,
                    owned=scope.owns(tags))  # fmt: skip


# -- apply ----------------------------------------------------------------------------------------


def settings(r: Resource) -> dict[str, Any]:
    """The mapping's settings as Create/UpdateEventSourceMapping take them."""
    a = r.attributes
    concurrency = a.get("MaximumConcurrency")
    return {
        "BatchSize": int(a["BatchSize"]),
        "MaximumBatchingWindowInSeconds": int(a["MaximumBatchingWindowInSeconds"]),
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "Enabled": a["Enabled"] == "true",
        "ScalingConfig": {"MaximumConcurrency": int(concurrency)} if concurrency else {},
    }


async def create_mapping(applier: Applier, r: Resource) -> None:
    request = settings(r)
    if not request["ScalingConfig"]:
        del request["ScalingConfig"]
    await applier.call(
        "CreateEventSourceMapping",
        applier.aws.lambda_.create_event_source_mapping,
        EventSourceArn=r.ref["queue_arn"],
        FunctionName=r.ref["function"],
        Tags=dict(r.tags or {}),
        **request,
    )


async def update_mapping(applier: Applier, updates: Sequence[Update]) -> None:
    """Send every setting again when one changed; then change its tags."""
    client, current = applier.aws.lambda_, updates[0].current
    if any(not u.is_tag for u in updates):
        await applier.call(
            "UpdateEventSourceMapping",
            client.update_event_source_mapping,
            UUID=current.ref["uuid"],
            **settings(updates[0].resource),
        )
    arn = current.ref["arn"]
    await applier._tags(
        updates,
        lambda tags: applier.call("TagResource", client.tag_resource, Resource=arn, Tags=tags),
        lambda keys: applier.call("UntagResource", client.untag_resource, Resource=arn,
                                  TagKeys=keys),
    )  # fmt: skip


async def delete_mapping(applier: Applier, r: Resource) -> None:
    await applier.call("DeleteEventSourceMapping",
                       applier.aws.lambda_.delete_event_source_mapping, MISSING_MAPPING,
                       UUID=r.ref["uuid"])  # fmt: skip
