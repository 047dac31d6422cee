"""CloudWatch alarms from the topology, without AWS: the section's model and checks (with their
file:line), the resources it resolves to, planning against what DescribeAlarms would answer, and
``bus graph``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.aws import Account
from bus.cli import main
from bus.errors import TopologyError
from bus.topology.alarms import declared_alarms, number
from bus.topology.alarms_aws import put_request, read_alarm
from bus.topology.check import check_topology
from bus.topology.graph import render
from bus.topology.load import load_topology
from bus.topology.model import Topology, ownership_tags
from bus.topology.observe import Scope
from bus.topology.plan import Delete, Update, plan
from bus.topology.resolve import Resource, desired_resources

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DATA: dict[str, Any] = yaml.safe_load((ROOT / "topology.yaml").read_text())
ACCOUNT = Account(account_id="123456789012", region="eu-west-1")
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012"

SMALL = """\
name: shop
topics:
  ops-alerts: {}
queues:
  billing: {}
  undelivered: {dead_letter: false}
buses:
  shop-events: {}
rules:
  on-custom:
    bus: shop-events
    event_pattern: {source: [shop]}
    targets: [{queue: billing, dead_letter_queue: undelivered}]
  on-default:
    event_pattern: {source: [shop]}
    targets: [{queue: billing}]
"""


def small(alarms: dict[str, Any] | None = None) -> Topology:
    data = yaml.safe_load(SMALL)
    if alarms is not None:
        data["alarms"] = alarms
    return Topology.model_validate(data)


def alarms_of(topology: Topology, env: str | None = "dev") -> dict[str, Resource]:
    resources = desired_resources(topology, env, ACCOUNT)
    return {r.name: r for r in resources if r.kind == "alarm"}


def described(resource: Resource) -> dict[str, Any]:
    """What DescribeAlarms answers for an alarm created from ``resource`` (as LocalStack does)."""
    request = put_request(resource)
    return {**request, "AlarmArn": resource.ref["arn"], "StateValue": "INSUFFICIENT_DATA"}


def observed(
    resources: list[Resource], env: str = "dev", topology: Topology | None = None
) -> list[Resource]:
    scope = Scope(env, ownership_tags(topology or small({}), env), prune=True)
    return [read_alarm(described(r), r.tags or {}, scope) for r in resources]


# -- which alarms ---------------------------------------------------------------------------------


def test_no_alarms_section_means_no_alarms() -> None:
    assert alarms_of(small()) == {}
    assert declared_alarms(small()) == []


def test_defaults_give_one_alarm_per_queue_and_rule_of_the_right_kind() -> None:
    got = alarms_of(small({}))
    assert sorted(got) == [
        "dev-billing-dlq-not-empty",
        "dev-billing-message-age",
        "dev-on-custom-failed-invocations",
        "dev-on-default-failed-invocations",
        "dev-undelivered-not-empty",  # EventBridge's dead-letter queue is a dead-letter queue
    ]
    dlq = got["dev-billing-dlq-not-empty"].attributes
    assert (dlq["Namespace"], dlq["MetricName"], dlq["Statistic"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum",
    )  # fmt: skip
    assert json.loads(dlq["Dimensions"]) == [{"Name": "QueueName", "Value": "dev-billing-dlq"}]
    assert (dlq["Threshold"], dlq["ComparisonOperator"], dlq["Period"]) == (
        "0.0", "GreaterThanThreshold", "60",
    )  # fmt: skip
    assert (dlq["EvaluationPeriods"], dlq["DatapointsToAlarm"], dlq["TreatMissingData"]) == (
        "1", "1", "notBreaching",
    )  # fmt: skip
    age = got["dev-billing-message-age"].attributes
    assert (age["MetricName"], age["Threshold"], age["EvaluationPeriods"]) == (
        "ApproximateAgeOfOldestMessage", "900.0", "5",
    )  # fmt: skip


def test_failed_invocations_name_the_bus_only_for_a_custom_bus() -> None:
    got = alarms_of(small({}))
    custom = got["dev-on-custom-failed-invocations"].attributes
    assert (custom["Namespace"], custom["MetricName"], custom["Statistic"]) == (
        "AWS/Events", "FailedInvocations", "Sum",
    )  # fmt: skip
    assert json.loads(custom["Dimensions"]) == [
        {"Name": "EventBusName", "Value": "dev-shop-events"},
        {"Name": "RuleName", "Value": "dev-on-custom"},
    ]
    default = got["dev-on-default-failed-invocations"].attributes
    assert json.loads(default["Dimensions"]) == [{"Name": "RuleName", "Value": "dev-on-default"}]


def test_overrides_change_only_their_fields_and_false_turns_an_alarm_off() -> None:
    t = small(
        {
            "defaults": {"message_age": {"threshold": 600, "evaluation_periods": 3}},
            "queues": {"billing": {"message_age": {"threshold": 120}}},
            "rules": {"on-default": {"failed_invocations": False}},
        }
    )
    got = alarms_of(t)
    age = got["dev-billing-message-age"].attributes
    assert (age["Threshold"], age["EvaluationPeriods"], age["DatapointsToAlarm"]) == (
        "120.0", "3", "3",  # datapoints_to_alarm set nowhere: N of N
    )  # fmt: skip
    assert "dev-on-default-failed-invocations" not in got
    off = small(
        {"defaults": {"dead_letters": False}, "queues": {"undelivered": {"dead_letters": {}}}}
    )
    assert sorted(n for n in alarms_of(off) if n.endswith("not-empty")) == [
        "dev-undelivered-not-empty"
    ]


def test_actions_are_topic_arns_and_ok_actions_follow_them_unless_turned_off() -> None:
    arn = "arn:aws:sns:eu-west-1:999999999999:pager"
    got = alarms_of(small({"actions": ["ops-alerts", arn]}))["dev-billing-message-age"].attributes
    assert json.loads(got["AlarmActions"]) == sorted([f"{TOPIC_ARN}:dev-ops-alerts", arn])
    assert got["OKActions"] == got["AlarmActions"]
    quiet = small({"actions": ["ops-alerts"], "ok_actions": False})
    assert alarms_of(quiet)["dev-billing-message-age"].attributes["OKActions"] == "[]"


def test_alarms_carry_the_ownership_tags_and_no_env_means_no_prefix() -> None:
    got = alarms_of(small({}), env=None)
    alarm = got["billing-message-age"]
    assert alarm.tags == {"bus:topology": "shop", "bus:env": "-", "bus:managed": "true"}
    assert alarm.ref["arn"] == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-message-age"


def test_reference_topology_declares_an_alarm_for_every_queue_and_its_rule() -> None:
    t = Topology.model_validate(REFERENCE_DATA)
    got = alarms_of(t)
    queues = t.all_queues()
    assert len(got) == len(queues) + len(t.rules)
    assert got["dev-fraud-review-message-age"].attributes["Threshold"] == "3600.0"
    assert got["dev-shipping-message-age"].attributes["Threshold"] == "600.0"


# -- validation, with file positions --------------------------------------------------------------


def problems(tmp_path: Path, alarms: str) -> list[str]:
    path = tmp_path / "topology.yaml"
    path.write_text(SMALL + "alarms:\n" + textwrap.indent(textwrap.dedent(alarms), "  "))
    with pytest.raises(TopologyError) as exc:
        load_topology(path, env="dev")
    return [str(p).replace(str(path), "T") for p in exc.value.problems]


def test_unknown_names_in_overrides_and_actions_are_reported_at_their_line(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """\
        actions: [ops-alert, "arn:aws:sqs:eu-west-1:1:q"]
        queues:
          biling: {message_age: {threshold: 60}}
        rules:
          on-defualt: {failed_invocations: false}
        """,
    )
    assert got == [
        "T:18:13: alarms.actions[0]: topic 'ops-alert' is not declared under topics (did you mean 'ops-alerts'?)",
        "T:18:24: alarms.actions[1]: 'arn:aws:sqs:eu-west-1:1:q' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
        "T:20:5: alarms.queues.biling: queue 'biling' is not declared under queues (did you mean 'billing'?)",
        "T:22:5: alarms.rules.on-defualt: rule 'on-defualt' is not declared under rules (did you mean 'on-default'?)",
    ]


def test_bad_thresholds_and_periods_are_structural_errors(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """\
        defaults:
          message_age: {threshold: -1, period: 90}
          dead_letters: {evaluation_periods: 0}
        """,
    )
    assert got == [
        "T:19:30: alarms.defaults.message_age.threshold: must be at least 0, got -1",
        "T:19:34: alarms.defaults.message_age.period: must be a multiple of 60 seconds (whole minutes)",
        "T:20:40: alarms.defaults.dead_letters.evaluation_periods: must be between 1 and 10080, got 0",
    ]


def test_windows_cloudwatch_refuses_and_overrides_of_the_wrong_kind(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """\
        defaults:
          message_age: {evaluation_periods: 3, datapoints_to_alarm: 5}
          dead_letters: {period: 3000, evaluation_periods: 30, datapoints_to_alarm: 30}
        queues:
          undelivered: {message_age: {threshold: 5}}
          billing: {dead_letters: {threshold: 5}}
        """,
    )
    assert got == [
        "T:19:5: alarms.defaults.message_age: datapoints_to_alarm (5) cannot exceed evaluation_periods (3)",
        "T:20:5: alarms.defaults.dead_letters: period x evaluation_periods is 90000 s; CloudWatch allows at most 86400 s for periods under an hour",
        "T:22:19: alarms.queues.undelivered.message_age: 'undelivered' is a dead-letter queue: its alarm is dead_letters (messages visible), not message_age",
        "T:23:15: alarms.queues.billing.dead_letters: 'billing' is not a dead-letter queue: its alarm is message_age, not dead_letters",
    ]


def test_a_broken_default_is_reported_once_not_once_per_queue() -> None:
    t = small({"defaults": {"message_age": {"datapoints_to_alarm": 9}}})
    assert [f.path for f in check_topology(t, "dev")] == [("alarms", "defaults", "message_age")]


def test_reference_topology_alarms_validate() -> None:
    load_topology(ROOT / "topology.yaml", env="prod")


# -- planning -------------------------------------------------------------------------------------


def test_nothing_to_do_when_cloudwatch_holds_what_the_topology_says() -> None:
    desired = list(alarms_of(small({"actions": ["ops-alerts"]})).values())
    result = plan(desired, observed(desired))
    assert result.is_empty, result.lines()
    assert result.unchanged == len(desired)


@settings(max_examples=50, deadline=None)
@given(
    threshold=st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False)),
    periods=st.integers(1, 20),
    minutes=st.integers(1, 60),
    missing=st.sampled_from(["notBreaching", "breaching", "ignore", "missing"]),
)
def test_any_condition_survives_the_round_trip_through_put_and_describe(
    threshold: float, periods: int, minutes: int, missing: str
) -> None:
    condition = {"threshold": threshold, "evaluation_periods": periods, "datapoints_to_alarm": periods,
                 "period": 60 * minutes, "treat_missing_data": missing}  # fmt: skip
    desired = list(alarms_of(small({"defaults": {"message_age": condition}})).values())
    assert plan(desired, observed(desired)).is_empty


def test_one_changed_override_is_one_update_line() -> None:
    before = list(alarms_of(small({})).values())
    after = list(
        alarms_of(small({"queues": {"billing": {"message_age": {"threshold": 300}}}})).values()
    )
    result = plan(after, observed(before))
    assert result.lines() == ["~ update alarm dev-billing-message-age: Threshold: 900.0 -> 300.0"]
    change = result.changes[0]
    assert isinstance(change, Update)
    assert put_request(change.resource)["Threshold"] == 300.0


def test_prune_deletes_owned_alarms_no_longer_declared_and_only_those() -> None:
    everything = list(alarms_of(small({})).values())
    fewer = list(
        alarms_of(small({"rules": {"on-default": {"failed_invocations": False}}})).values()
    )
    foreign = Resource(kind="alarm", name="dev-handmade", attributes={}, tags={}, owned=False)
    seen = [*observed(everything), foreign]
    assert plan(fewer, seen).is_empty  # without --prune nothing is deleted
    result = plan(fewer, seen, prune=True)
    assert result.lines() == ["- delete alarm dev-on-default-failed-invocations"]
    assert isinstance(result.changes[0], Delete)


def test_removed_ownership_tag_is_a_tag_update() -> None:
    desired = list(alarms_of(small({})).values())[:1]
    scope = Scope("dev", ownership_tags(small({}), "dev"), prune=False)
    untagged = [read_alarm(described(desired[0]), {}, scope)]
    assert plan(desired, untagged).lines() == [
        f"~ update alarm {desired[0].name}: tag:bus:env: (none) -> dev",
        f"~ update alarm {desired[0].name}: tag:bus:managed: (none) -> true",
        f"~ update alarm {desired[0].name}: tag:bus:topology: (none) -> shop",
    ]


def test_threshold_is_written_as_cloudwatch_answers_it() -> None:
    assert number(0) == number(0.0) == "0.0"
    assert number(600) == "600.0"


# -- graph ----------------------------------------------------------------------------------------


def test_graph_draws_alarms_from_what_they_watch_to_the_topics_they_notify() -> None:
    t = small(
        {"actions": ["ops-alerts"], "queues": {"billing": {"message_age": {"threshold": 60}}}}
    )
    text = render(t, "mermaid", "dev")
    assert (
        '  alarm_message_age_billing>"dev-billing-message-age<br/>oldest message #gt; 60 s"]'
        in text
    )
    assert "  queue_billing -.-> alarm_message_age_billing\n" in text
    assert '  alarm_message_age_billing -.->|"notifies"| topic_ops_alerts\n' in text
    assert "  rule_on_custom -.-> alarm_failed_invocations_on_custom\n" in text
    dot = render(t, "dot", "dev")
    assert (
        'alarm_dead_letters_undelivered [label="dev-undelivered-not-empty\\nmessages visible > 0", shape=note];'
        in dot
    )


def test_bus_graph_command_prints_the_alarms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", "-t", str(ROOT / "topology.yaml"), "--env", "dev"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert (
        'alarm_dead_letters_billing_dlq>"dev-billing-dlq-not-empty<br/>messages visible #gt; 0"]'
        in out
    )
    assert "  queue_billing_dlq -.-> alarm_dead_letters_billing_dlq\n" in out
