"""CloudWatch alarms from the topology (pure): which alarms, their checks, resources and picture.

``declared_alarms`` merges built-in conditions, ``alarms.defaults`` and the per-queue and per-rule
overrides into one ``AlarmSpec`` per alarm. ``check_alarms`` reports what the model alone cannot
see (unknown queues, rules and topics, overrides of the wrong kind, evaluation windows CloudWatch
refuses), ``alarm_resources`` turns the specs into ``Resource`` values in CloudWatch's own terms,
and ``alarm_graph`` adds them to ``bus graph``. The AWS side is ``bus.topology.alarms_aws``.

Built-in conditions (AWS publishes SQS and EventBridge metrics once a minute; missing data means
"nothing to report": an empty queue publishes no message age and EventBridge publishes
``FailedInvocations`` only when it is not zero):

- ``dead_letters``: ``ApproximateNumberOfMessagesVisible`` (Maximum) > 0 in 1 of 1 minute;
- ``message_age``: ``ApproximateAgeOfOldestMessage`` (Maximum) > 900 s in 5 of 5 minutes;
- ``failed_invocations``: ``FailedInvocations`` (Sum) > 0 in 1 of 1 minute.

``datapoints_to_alarm`` set nowhere follows ``evaluation_periods`` (N of N).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from bus.aws.clients import Account
from bus.topology.alarm_model import Alarms, Condition, Override
from bus.topology.check import Finding
from bus.topology.check_refs import Suggestions
from bus.topology.model import DEFAULT_BUS, Topology
from bus.topology.patterns import KeyPath
from bus.topology.resolve import Names, Resource, dumps

AlarmKind = Literal["dead_letters", "message_age", "failed_invocations"]
MAX_NAME = 255
"""CloudWatch's limit on an alarm name."""
MAX_RANGE = 604_800
MAX_SHORT_RANGE = 86_400
"""CloudWatch: period x evaluation periods at most 7 days, and 1 day for periods under an hour."""
COMPARISON = "GreaterThanThreshold"
_NO_ACCOUNT = Account(account_id="-", region="-")
"""For ``Names`` where only physical names are asked for (checks, graph)."""


@dataclass(frozen=True)
class Metric:
    """What one kind of alarm watches, and how."""

    namespace: str
    name: str
    statistic: str
    suffix: str
    """Appended to the watched resource's physical name to name the alarm."""
    default: Condition
    short: str
    """How ``bus graph`` names the metric."""
    unit: str = ""


METRICS: Mapping[AlarmKind, Metric] = {
    "dead_letters": Metric(
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "not-empty",
        Condition(threshold=0, period=60, evaluation_periods=1, treat_missing_data="notBreaching"),
        "messages visible",
    ),
    "message_age": Metric(
        "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", "message-age",
        Condition(threshold=900, period=60, evaluation_periods=5, treat_missing_data="notBreaching"),
        "oldest message", unit=" s",
    ),
    "failed_invocations": Metric(
        "AWS/Events", "FailedInvocations", "Sum", "failed-invocations",
        Condition(threshold=0, period=60, evaluation_periods=1, treat_missing_data="notBreaching"),
        "failed invocations",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: its kind, the queue or rule it watches (logical name), its full condition, and
    where in the document that condition was last set (for findings)."""

    kind: AlarmKind
    subject: str
    condition: Condition
    path: KeyPath

    @property
    def metric(self) -> Metric:
        return METRICS[self.kind]


def declared_alarms(topology: Topology) -> list[AlarmSpec]:
    """Every alarm the ``alarms`` section asks for (none without one)."""
    section = topology.alarms
    if section is None:
        return []
    dlqs = topology.dead_letter_queues()
    out: list[AlarmSpec] = []
    for queue in topology.all_queues():
        kind: AlarmKind = "dead_letters" if queue in dlqs else "message_age"
        override = getattr(section.queues.get(queue), kind, None)
        spec = _spec(section, kind, queue, override, ("alarms", "queues", queue, kind))
        out += [spec] if spec else []
    for rule in topology.rules:
        override = getattr(section.rules.get(rule), "failed_invocations", None)
        path = ("alarms", "rules", rule, "failed_invocations")
        spec = _spec(section, "failed_invocations", rule, override, path)
        out += [spec] if spec else []
    return out


def _spec(
    section: Alarms, kind: AlarmKind, subject: str, override: Override, path: KeyPath
) -> AlarmSpec | None:
    default = getattr(section.defaults, kind)
    if override is False or (override is None and default is False):
        return None
    condition = METRICS[kind].default
    if default is not False:
        condition = default.over(condition)
    if override is None:
        path = ("alarms", "defaults", kind)
    else:
        condition = override.over(condition)
    if condition.datapoints_to_alarm is None:  # unset anywhere: N of N
        condition = condition.model_copy(
            update={"datapoints_to_alarm": condition.evaluation_periods}
        )
    return AlarmSpec(kind, subject, condition, path)


# -- checks ---------------------------------------------------------------------------------------


def check_alarms(t: Topology, env: str | None) -> Iterator[Finding]:
    """Semantic problems of the ``alarms`` section (``bus.topology.check`` calls this)."""
    section = t.alarms
    if section is None:
        return
    hints = Suggestions()
    yield from _override_refs(t, section, hints)
    for i, action in enumerate(section.actions):
        yield from _action(("alarms", "actions", i), action, t, hints)
    names = Names(t, env, _NO_ACCOUNT)
    seen: dict[str, KeyPath] = {}
    windows: dict[Finding, None] = {}  # a broken default is reported once, not once per queue
    for spec in declared_alarms(t):
        windows.update(dict.fromkeys(_window(spec)))
        name = alarm_name(names, spec)
        if len(name) > MAX_NAME:
            yield Finding(spec.path, f"alarm name {name!r} is longer than {MAX_NAME} characters")
        if seen.setdefault(name, spec.path) != spec.path:
            yield Finding(
                spec.path, f"two alarms would be named {name!r}; rename the {_subject(spec)}"
            )
    yield from windows


def _subject(spec: AlarmSpec) -> str:
    return (
        f"rule {spec.subject!r}" if spec.kind == "failed_invocations" else f"queue {spec.subject!r}"
    )


def _override_refs(t: Topology, section: Alarms, hints: Suggestions) -> Iterator[Finding]:
    queues, dlqs = t.all_queues(), t.dead_letter_queues()
    for name, override in section.queues.items():
        path: KeyPath = ("alarms", "queues", name)
        if name not in queues:
            yield _unknown(path, "queue", name, queues, hints)
        elif name in dlqs and override.message_age is not None:
            yield Finding((*path, "message_age"), f"{name!r} is a dead-letter queue: its alarm "
                          "is dead_letters (messages visible), not message_age")  # fmt: skip
        elif name not in dlqs and override.dead_letters is not None:
            yield Finding((*path, "dead_letters"), f"{name!r} is not a dead-letter queue: its "
                          "alarm is message_age, not dead_letters")  # fmt: skip
    for name in section.rules:
        if name not in t.rules:
            yield _unknown(("alarms", "rules", name), "rule", name, t.rules, hints)


def _unknown(path: KeyPath, kind: str, name: str, declared: Mapping[str, object],
             hints: Suggestions) -> Finding:  # fmt: skip
    section = f"{kind}s"
    hint = hints.hint(name, declared)
    return Finding(path, f"{kind} {name!r} is not declared under {section}{hint}",
                   ((section, name),))  # fmt: skip


def _action(path: KeyPath, action: str, t: Topology, hints: Suggestions) -> Iterator[Finding]:
    if action.startswith("arn:"):
        parts = action.split(":")
        if len(parts) != 6 or parts[2] != "sns" or not parts[5]:
            yield Finding(
                path, f"{action!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            )
    elif action not in t.topics:
        yield _unknown(path, "topic", action, t.topics, hints)


def _window(spec: AlarmSpec) -> Iterator[Finding]:
    c = spec.condition
    period, periods = c.period or 0, c.evaluation_periods or 0
    if (c.datapoints_to_alarm or 0) > periods:
        yield Finding(spec.path, f"datapoints_to_alarm ({c.datapoints_to_alarm}) cannot exceed "
                      f"evaluation_periods ({periods})")  # fmt: skip
    limit = MAX_SHORT_RANGE if period < 3600 else MAX_RANGE
    if period * periods > limit:
        yield Finding(spec.path, f"period x evaluation_periods is {period * periods} s; CloudWatch "
                      f"allows at most {limit} s" + (" for periods under an hour" if limit ==
                      MAX_SHORT_RANGE else ""))  # fmt: skip


# -- resources ------------------------------------------------------------------------------------


def alarm_name(names: Names, spec: AlarmSpec) -> str:
    """``<physical queue or rule name>-<suffix>``: ``dev-billing-dlq-not-empty``."""
    base = (
        names.rule(spec.subject) if spec.kind == "failed_invocations" else names.queue(spec.subject)
    )
    return f"{base}-{spec.metric.suffix}"


def number(value: float | None) -> str:
    """A threshold as bus writes and compares it (CloudWatch answers with a float)."""
    return repr(float(value or 0))


def alarm_resources(names: Names) -> list[Resource]:
    """The ``alarm`` resources of the topology in ``names``: one ``PutMetricAlarm`` each."""
    t = names.topology
    if t.alarms is None:
        return []
    actions = sorted({_action_arn(names, a) for a in t.alarms.actions})
    tags = dict(names.tags)
    return [_resource(names, spec, actions, tags) for spec in declared_alarms(t)]


def _action_arn(names: Names, action: str) -> str:
    return action if action.startswith("arn:") else names.topic_arn(action)


def _resource(
    names: Names, spec: AlarmSpec, actions: list[str], tags: Mapping[str, str]
) -> Resource:
    c, metric, ok = spec.condition, spec.metric, names.topology.alarms
    name = alarm_name(names, spec)
    attributes = {
        "Namespace": metric.namespace,
        "MetricName": metric.name,
        "Dimensions": dumps(_dimensions(names, spec)),
        "Statistic": metric.statistic,
        "Period": str(c.period),
        "EvaluationPeriods": str(c.evaluation_periods),
        "DatapointsToAlarm": str(c.datapoints_to_alarm),
        "Threshold": number(c.threshold),
        "ComparisonOperator": COMPARISON,
        "TreatMissingData": str(c.treat_missing_data),
        "AlarmActions": dumps(actions),
        "OKActions": dumps(actions if ok is not None and ok.ok_actions else []),
        "AlarmDescription": _describe(names, spec),
    }
    return Resource(kind="alarm", name=name, attributes=attributes, tags=dict(tags),
                    ref={"arn": names.account.arn("cloudwatch", f"alarm:{name}")})  # fmt: skip


def _dimensions(names: Names, spec: AlarmSpec) -> list[dict[str, str]]:
    """``QueueName`` for SQS; ``RuleName`` plus ``EventBusName`` for a rule on a custom bus."""
    if spec.kind != "failed_invocations":
        return [{"Name": "QueueName", "Value": names.queue(spec.subject)}]
    out = [{"Name": "RuleName", "Value": names.rule(spec.subject)}]
    bus = names.topology.rules[spec.subject].bus
    if bus != DEFAULT_BUS:
        out.insert(0, {"Name": "EventBusName", "Value": names.bus(bus)})
    return out


def _describe(names: Names, spec: AlarmSpec) -> str:
    topology = names.topology.name
    if spec.kind == "dead_letters":
        what = f"Dead-letter queue {names.queue(spec.subject)} holds messages"
    elif spec.kind == "message_age":
        what = f"Messages wait too long in {names.queue(spec.subject)}"
    else:
        what = f"EventBridge rule {names.rule(spec.subject)} fails to deliver events"
    return f"{what} (bus topology {topology})."


# -- graph ----------------------------------------------------------------------------------------

GraphKind = Literal["alarm", "queue", "rule", "topic"]
GraphNode = tuple[str, str, str]
"""(node id, label, detail)"""
GraphEdge = tuple[str, str, str]
"""(source id, target id, label); always dashed."""


def alarm_graph(
    topology: Topology, env: str | None, ids: Callable[[GraphKind, str], str]
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """Alarm nodes, an edge from each watched queue or rule, and one to each declared action topic."""
    names = Names(topology, env, _NO_ACCOUNT)
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    actions = [
        a for a in (topology.alarms.actions if topology.alarms else []) if a in topology.topics
    ]
    for spec in declared_alarms(topology):
        c, metric = spec.condition, spec.metric
        ident = ids("alarm", f"{spec.kind}:{spec.subject}")
        detail = f"{metric.short} > {c.threshold:g}{metric.unit}"
        nodes.append((ident, alarm_name(names, spec), detail))
        watched: GraphKind = "rule" if spec.kind == "failed_invocations" else "queue"
        edges.append((ids(watched, spec.subject), ident, ""))
        edges += [(ident, ids("topic", topic), "notifies") for topic in actions]
    return nodes, edges
