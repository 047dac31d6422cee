"""In-memory EventBridge: buses, rules with event patterns, SQS targets, PutEvents.

An event put on a bus is matched against every enabled rule of that bus (``bus.memory.matching``)
and delivered at once to each SQS target, as EventBridge delivers it (``version``, ``id``,
``detail-type``, ``source``, ``account``, ``time``, ``region``, ``resources``, ``detail``) or as
the target's ``Input``, ``InputPath`` or ``InputTransformer`` makes it (``eb_input``). A target
queue that does not exist sends the event to the target's dead-letter queue with EventBridge's
error attributes, or loses it. FIFO targets get the target's ``MessageGroupId`` and the event id as
deduplication id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from bus.jsontext import loads
from bus.memory.eb_routes import Routes, deliver, routes
from bus.memory.errors import client_error, ok
from bus.memory.matching import Compiled, compile_pattern
from bus.memory.queue import utf8_len
from bus.memory.sqs import MemorySqs
from bus.memory.world import World, new_id
from bus.topology.patterns import check_event_pattern

DEFAULT_BUS = "default"
MAX_ENTRIES = 10
MAX_BYTES = 262_144
MAX_TARGETS = 5
_RULE_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
_BUS_NAME = re.compile(r"^[/.\-_A-Za-z0-9]{1,256}$")
NOT_FOUND = "ResourceNotFoundException"


def _error(op: str, code: str, message: str) -> ClientError:
    return client_error(op, code, message)


@dataclass(eq=False)
class Rule:
    name: str
    arn: str
    bus: str
    pattern_text: str
    _pattern: dict[str, Any]
    state: str
    description: str
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    compiled: Compiled = field(init=False, repr=False)
    """The pattern compiled (set with it)."""

    def __post_init__(self) -> None:
        self.pattern = self._pattern

    @property
    def pattern(self) -> dict[str, Any]:
        return self._pattern

    @pattern.setter
    def pattern(self, pattern: dict[str, Any]) -> None:
        self._pattern = pattern
        self.compiled = compile_pattern(pattern)

    def listing(self) -> dict[str, Any]:
        out = {"Name": self.name, "Arn": self.arn, "EventPattern": self.pattern_text,
               "State": self.state, "EventBusName": self.bus}  # fmt: skip
        if self.description:
            out["Description"] = self.description
        return out


@dataclass(eq=False)
class Bus:
    name: str
    arn: str
    description: str = ""
    rules: dict[str, Rule] = field(default_factory=dict)


class MemoryEvents:
    """One account's event buses and rules, answering like aiobotocore's EventBridge client."""

    def __init__(self, world: World, sqs: MemorySqs) -> None:
        self.world = world
        self.sqs = sqs
        self.buses: dict[str, Bus] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self._add_bus(DEFAULT_BUS)

    def _add_bus(self, name: str, description: str = "") -> Bus:
        bus = Bus(name, self.world.arn("events", f"event-bus/{name}"), description)
        self.buses[name] = bus
        return bus

    def bus(self, name: str | None, op: str) -> Bus:
        key = (
            (name or DEFAULT_BUS).rsplit("/", 1)[-1]
            if (name or "").startswith("arn:")
            else (name or DEFAULT_BUS)
        )
        found = self.buses.get(key)
        if found is None:
            raise _error(op, NOT_FOUND, f"Event bus {key} does not exist.")
        return found

    def rule(self, name: str, bus_name: str | None, op: str) -> Rule:
        bus = self.bus(bus_name, op)
        found = bus.rules.get(name)
        if found is None:
            raise _error(op, NOT_FOUND, f"Rule {name} does not exist on EventBus {bus.name}.")
        return found

    # -- buses ------------------------------------------------------------------------------------

    async def create_event_bus(
        self, Name: str, Description: str = "", Tags: list[dict[str, str]] | None = None, **_: Any
    ) -> dict[str, Any]:
        op = "CreateEventBus"
        if Name == DEFAULT_BUS or not _BUS_NAME.match(Name):
            raise _error(op, "ValidationException", f"Event bus name {Name} is not valid.")
        if Name in self.buses:
            raise _error(op, "ResourceAlreadyExistsException", f"Event bus {Name} already exists.")
        bus = self._add_bus(Name, Description)
        self.tags[bus.arn] = {t["Key"]: t["Value"] for t in Tags or []}
        return ok(EventBusArn=bus.arn)

    async def describe_event_bus(self, Name: str = DEFAULT_BUS) -> dict[str, Any]:
        bus = self.bus(Name, "DescribeEventBus")
        answer: dict[str, Any] = {"Name": bus.name, "Arn": bus.arn}
        if bus.description:
            answer["Description"] = bus.description
        return ok(**answer)

    async def update_event_bus(
        self, Name: str = DEFAULT_BUS, Description: str = "", **_: Any
    ) -> dict[str, Any]:
        bus = self.bus(Name, "UpdateEventBus")
        bus.description = Description
        return ok(Arn=bus.arn, Name=bus.name, Description=Description)

    async def delete_event_bus(self, Name: str) -> dict[str, Any]:
        op = "DeleteEventBus"
        if Name == DEFAULT_BUS:
            raise _error(op, "ValidationException", "Cannot delete event bus default.")
        bus = self.buses.get(Name)
        if bus is not None:
            if bus.rules:
                raise _error(op, "ValidationException",
                             f"Cannot delete event bus {Name} because it has rules.")  # fmt: skip
            del self.buses[Name]
            self.tags.pop(bus.arn, None)
        return ok()

    async def list_event_buses(self, NamePrefix: str = "", **_: Any) -> dict[str, Any]:
        listed = [
            {
                "Name": b.name,
                "Arn": b.arn,
                **({"Description": b.description} if b.description else {}),
            }
            for b in sorted(self.buses.values(), key=lambda b: b.name)
            if b.name.startswith(NamePrefix)
        ]
        return ok(EventBuses=listed)

    # -- tags -------------------------------------------------------------------------------------

    def _tagged(self, arn: str, op: str) -> dict[str, str]:
        if arn not in self.tags:
            raise _error(op, NOT_FOUND, f"Resource {arn} does not exist.")
        return self.tags[arn]

    async def tag_resource(self, ResourceARN: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        self._tagged(ResourceARN, "TagResource").update({t["Key"]: t["Value"] for t in Tags})
        return ok()

    async def untag_resource(self, ResourceARN: str, TagKeys: list[str]) -> dict[str, Any]:
        tags = self._tagged(ResourceARN, "UntagResource")
        for key in TagKeys:
            tags.pop(key, None)
        return ok()

    async def list_tags_for_resource(self, ResourceARN: str) -> dict[str, Any]:
        tags = self._tagged(ResourceARN, "ListTagsForResource")
        return ok(Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])

    # -- rules and targets ------------------------------------------------------------------------

    async def put_rule(
        self, Name: str, EventPattern: str = "", EventBusName: str | None = None,
        State: str = "ENABLED", Description: str = "", Tags: list[dict[str, str]] | None = None,
        **_: Any,
    ) -> dict[str, Any]:  # fmt: skip
        op = "PutRule"
        bus = self.bus(EventBusName, op)
        if not _RULE_NAME.match(Name):
            raise _error(op, "ValidationException", f"Rule name {Name} is not valid.")
        pattern = _parse_pattern(op, EventPattern)
        prefix = "" if bus.name == DEFAULT_BUS else f"{bus.name}/"
        arn = self.world.arn("events", f"rule/{prefix}{Name}")
        rule = bus.rules.get(Name)
        if rule is None:
            rule = bus.rules[Name] = Rule(Name, arn, bus.name, EventPattern, pattern, State,
                                          Description)  # fmt: skip
            self.tags[arn] = {}
        else:
            rule.pattern_text, rule.pattern, rule.state = EventPattern, pattern, State
            rule.description = Description
        self.tags[arn].update({t["Key"]: t["Value"] for t in Tags or []})
        return ok(RuleArn=arn)

    async def list_rules(
        self, EventBusName: str | None = None, NamePrefix: str = "", **_: Any
    ) -> dict[str, Any]:
        bus = self.bus(EventBusName, "ListRules")
        rules = sorted((r for r in bus.rules.values() if r.name.startswith(NamePrefix)),
                       key=lambda r: r.name)  # fmt: skip
        return ok(Rules=[r.listing() for r in rules])

    async def describe_rule(self, Name: str, EventBusName: str | None = None) -> dict[str, Any]:
        return ok(**self.rule(Name, EventBusName, "DescribeRule").listing())

    async def delete_rule(
        self, Name: str, EventBusName: str | None = None, **_: Any
    ) -> dict[str, Any]:
        op = "DeleteRule"
        bus = self.bus(EventBusName, op)
        rule = bus.rules.get(Name)
        if rule is not None:
            if rule.targets:
                raise _error(
                    op, "ValidationException", "Rule can't be deleted since it has targets."
                )
            del bus.rules[Name]
            self.tags.pop(rule.arn, None)
        return ok()

    async def put_targets(
        self, Rule: str, Targets: list[dict[str, Any]], EventBusName: str | None = None
    ) -> dict[str, Any]:
        op = "PutTargets"
        rule = self.rule(Rule, EventBusName, op)
        failed = []
        for target in Targets:
            inputs = [k for k in ("Input", "InputPath", "InputTransformer") if k in target]
            if len(inputs) > 1:
                raise _error(op, "ValidationException",
                             "Only one of Input, InputPath, or InputTransformer can be provided.")  # fmt: skip
            arn = str(target.get("Arn", ""))
            if arn.endswith(".fifo") and not target.get("SqsParameters", {}).get("MessageGroupId"):
                raise _error(op, "ValidationException", "Parameter(s) SqsParameters must be "
                                                        f"specified for target: {target['Id']}.")  # fmt: skip
            if target["Id"] not in rule.targets and len(rule.targets) >= MAX_TARGETS:
                failed.append({"TargetId": target["Id"], "ErrorCode": "LimitExceededException",
                               "ErrorMessage": "The requested resource exceeds the maximum "
                                               "number allowed."})  # fmt: skip
                continue
            rule.targets[target["Id"]] = dict(target)
        return ok(FailedEntryCount=len(failed), FailedEntries=failed)

    async def list_targets_by_rule(
        self, Rule: str, EventBusName: str | None = None, **_: Any
    ) -> dict[str, Any]:
        rule = self.rule(Rule, EventBusName, "ListTargetsByRule")
        return ok(Targets=[dict(t) for t in rule.targets.values()])

    async def remove_targets(
        self, Rule: str, Ids: list[str], EventBusName: str | None = None, **_: Any
    ) -> dict[str, Any]:
        rule = self.rule(Rule, EventBusName, "RemoveTargets")
        for target_id in Ids:
            rule.targets.pop(target_id, None)
        return ok(FailedEntryCount=0, FailedEntries=[])

    # -- events -----------------------------------------------------------------------------------

    async def put_events(self, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        op = "PutEvents"
        if not 1 <= len(Entries) <= MAX_ENTRIES:
            raise _error(op, "ValidationException", "1 validation error detected: Value at "
                                                    "'entries' failed to satisfy constraint: Member "
                                                    "must have length less than or equal to 10")  # fmt: skip
        if sum(_size(e) for e in Entries) > MAX_BYTES:
            raise _error(op, "ValidationException",
                         "Total size of the entries in the request is over the limit.")  # fmt: skip
        clock = self.world.clock
        now = clock.now()
        ingested = clock.iso(now, millis=False)
        through: dict[str, Routes] = {}
        put = self._put
        answers = [put(entry, now, ingested, through) for entry in Entries]
        failed = 0
        for answer in answers:
            if "ErrorCode" in answer:
                failed += 1
        return ok(FailedEntryCount=failed, Entries=answers)

    def _put(
        self, entry: dict[str, Any], now: float, ingested: str, through: dict[str, Routes]
    ) -> dict[str, Any]:
        """Check one entry and deliver its event (``through``: the routes of the buses this call
        has resolved so far)."""
        get = entry.get
        source, detail_type, text = get("Source"), get("DetailType"), get("Detail")
        if not (source and detail_type and text):
            name = "Source" if not source else "DetailType" if not detail_type else "Detail"
            return {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {name} is not valid. Reason: {name} is a "
                                    "required argument."}  # fmt: skip
        try:
            detail = loads(text)
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
        name = get("EventBusName") or DEFAULT_BUS
        bus_routes = through.get(name)
        if bus_routes is None:
            bus = self.buses.get(name.rsplit("/", 1)[-1] if name.startswith("arn:") else name)
            if bus is None:
                return {"ErrorCode": "NotFoundException",
                        "ErrorMessage": f"Event bus {name} does not exist."}  # fmt: skip
            bus_routes = through[name] = routes(self.sqs, bus, now)
        event_id = new_id()
        when = get("Time")
        stamp = _stamp(int(when.timestamp())) if isinstance(when, datetime) else ingested
        resources = get("Resources")
        world = self.world
        event = {
            "version": "0", "id": event_id, "detail-type": detail_type, "source": source,
            "account": world.account_id, "time": stamp, "region": world.region,
            "resources": list(resources) if resources else [], "detail": detail,
        }  # fmt: skip
        if bus_routes:
            deliver(event, bus_routes, ingested)
        return {"EventId": event_id}


@lru_cache(maxsize=256)
def _stamp(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_pattern(op: str, text: str) -> dict[str, Any]:
    try:
        pattern = json.loads(text)
    except ValueError:
        raise _error(op, "InvalidEventPatternException",
                     "Event pattern is not valid. Reason: not valid JSON") from None  # fmt: skip
    if not isinstance(pattern, dict):
        raise _error(op, "InvalidEventPatternException",
                     "Event pattern is not valid. Reason: Filter is not an object")  # fmt: skip
    issues = check_event_pattern(pattern)
    if issues:
        where = ".".join(str(p) for p in issues[0].path)
        raise _error(op, "InvalidEventPatternException",
                     f"Event pattern is not valid. Reason: {where}: {issues[0].message}")  # fmt: skip
    return pattern


def _size(entry: dict[str, Any]) -> int:
    text = f"{entry.get('Source') or ''}{entry.get('DetailType') or ''}{entry.get('Detail') or ''}"
    size = (14 if entry.get("Time") else 0) + utf8_len(text)
    resources = entry.get("Resources")
    return size + sum(utf8_len(str(r)) for r in resources) if resources else size
