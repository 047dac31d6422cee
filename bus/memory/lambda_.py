"""In-memory Lambda: SQS event source mappings as ``bus apply`` manages them (create, list, update,
tag, delete). Mappings are stored, never polled: no function runs here. A function need not
exist (the in-memory AWS has no functions); a mapping names it by name or ARN.
"""

from __future__ import annotations

from typing import Any

from bus.memory.errors import client_error, ok
from bus.memory.world import World

_SETTINGS = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes",
             "ScalingConfig")  # fmt: skip


class MemoryLambda:
    def __init__(self, world: World) -> None:
        self.world = world
        self.mappings: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def _function_arn(self, function: str) -> str:
        return (
            function
            if function.startswith("arn:")
            else self.world.arn("lambda", f"function:{function}")
        )

    def _get(self, operation: str, uuid: str) -> dict[str, Any]:
        if uuid not in self.mappings:
            raise client_error(operation, "ResourceNotFoundException", f"mapping {uuid} not found")
        return self.mappings[uuid]

    async def create_event_source_mapping(self, **request: Any) -> dict[str, Any]:
        uuid = self.world.new_id()
        arn = self.world.arn("lambda", f"event-source-mapping:{uuid}")
        mapping = {k: request[k] for k in _SETTINGS if k in request}
        mapping.setdefault("BatchSize", 10)
        mapping |= {
            "UUID": uuid,
            "EventSourceArn": request["EventSourceArn"],
            "FunctionArn": self._function_arn(str(request["FunctionName"])),
            "EventSourceMappingArn": arn,
            "State": "Enabled" if request.get("Enabled", True) else "Disabled",
        }
        self.mappings[uuid] = mapping
        self.tags[arn] = dict(request.get("Tags") or {})
        return ok(**mapping)

    async def list_event_source_mappings(self, **request: Any) -> dict[str, Any]:
        source = request.get("EventSourceArn")
        function = request.get("FunctionName")
        found = [
            dict(m)
            for m in self.mappings.values()
            if (source is None or m["EventSourceArn"] == source)
            and (function is None or m["FunctionArn"] == self._function_arn(str(function)))
        ]
        return ok(EventSourceMappings=found)

    async def update_event_source_mapping(self, *, UUID: str, **request: Any) -> dict[str, Any]:
        mapping = self._get("UpdateEventSourceMapping", UUID)
        mapping.update({k: request[k] for k in _SETTINGS if k in request})
        if not mapping.get("ScalingConfig"):
            mapping.pop("ScalingConfig", None)
        if "Enabled" in request:
            mapping["State"] = "Enabled" if request["Enabled"] else "Disabled"
        return ok(**mapping)

    async def delete_event_source_mapping(self, *, UUID: str) -> dict[str, Any]:
        mapping = self.mappings.pop(UUID, None) or self._get("DeleteEventSourceMapping", UUID)
        self.tags.pop(mapping["EventSourceMappingArn"], None)
        return ok(**{**mapping, "State": "Deleting"})

    def _known(self, operation: str, arn: str) -> dict[str, str]:
        if arn not in self.tags:
            raise client_error(operation, "ResourceNotFoundException", f"{arn} not found")
        return self.tags[arn]

    async def list_tags(self, *, Resource: str) -> dict[str, Any]:
        return ok(Tags=dict(self._known("ListTags", Resource)))

    async def tag_resource(self, *, Resource: str, Tags: dict[str, str]) -> dict[str, Any]:
        self._known("TagResource", Resource).update(Tags)
        return ok()

    async def untag_resource(self, *, Resource: str, TagKeys: list[str]) -> dict[str, Any]:
        tags = self._known("UntagResource", Resource)
        for key in TagKeys:
            tags.pop(key, None)
        return ok()
