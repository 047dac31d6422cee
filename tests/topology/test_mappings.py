"""The ``lambda`` section: its rules (``bus validate``), the event source mapping resources it
gives, their round trip through what Lambda answers, and their place in ``bus graph``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.aws import Account
from bus.errors import TopologyError
from bus.topology.graph import render
from bus.topology.load import load_topology
from bus.topology.mappings_aws import read_mapping, settings
from bus.topology.model import Topology, ownership_tags
from bus.topology.observe import Scope
from bus.topology.plan import Update, plan
from bus.topology.resolve import Resource, desired_resources

ACCOUNT = Account(account_id="123456789012", region="eu-west-1")

SMALL = """\
name: shop
queues:
  orders: {visibility_timeout: 180}
  orders.fifo: {fifo: true, visibility_timeout: 60}
"""


def topology(section: dict[str, Any]) -> Topology:
    data = yaml.safe_load(SMALL)
    data["lambda"] = section
    return Topology.model_validate(data)


def mappings(t: Topology, env: str | None = "dev") -> dict[str, Resource]:
    return {r.name: r for r in desired_resources(t, env, ACCOUNT) if r.kind == "mapping"}


def problems(tmp_path: Path, section: str) -> list[str]:
    path = tmp_path / "topology.yaml"
    path.write_text(SMALL + "lambda:\n" + textwrap.indent(textwrap.dedent(section), "  "))
    with pytest.raises(TopologyError) as exc:
        load_topology(path, env="dev")
    return [str(p).replace(str(path), "T") for p in exc.value.problems]


def test_a_fifo_queue_takes_at_most_ten_records_and_no_batching_window(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """\
        orders.fifo: {function: f, batch_size: 11, batching_window: 5}
        """,
    )
    assert got == [
        "T:6:42: lambda.orders.fifo.batch_size: 'orders.fifo' is a FIFO queue: its batch is at "
        "most 10 records, not 11",
        "T:6:63: lambda.orders.fifo.batching_window: 'orders.fifo' is a FIFO queue: Lambda takes "
        "no batching window for it",
    ]


def test_a_standard_batch_over_ten_needs_a_window_and_at_most_ten_thousand(
    tmp_path: Path,
) -> None:
    assert problems(tmp_path, "orders: {function: f, batch_size: 11}\n") == [
        "T:6:3: lambda.orders.batching_window: a batch of 11 (over 10) needs a batching_window "
        "of at least 1 second"
    ]
    got = problems(tmp_path, "orders: {function: f, batch_size: 10001, batching_window: 1}\n")
    assert got == ["T:6:37: lambda.orders.batch_size: must be between 1 and 10000, got 10001"]
    load_ok = tmp_path / "ok.yaml"
    load_ok.write_text(SMALL + "lambda:\n  orders: {function: f, batch_size: 10000, "
                       "batching_window: 1}\n")  # fmt: skip
    assert load_topology(load_ok).lambda_["orders"].batch_size == 10_000


def test_the_visibility_timeout_is_at_least_six_times_the_function_timeout(
    tmp_path: Path,
) -> None:
    got = problems(tmp_path, "orders.fifo: {function: f, function_timeout: 11}\n")
    assert got == [
        "T:6:48: lambda.orders.fifo.function_timeout: queue 'orders.fifo' has a "
        "visibility_timeout of 60 s; AWS recommends at least 6 x the function's timeout (11 s): "
        "66 s"
    ]
    ok = tmp_path / "ok.yaml"
    ok.write_text(SMALL + "lambda:\n  orders.fifo: {function: f, function_timeout: 10}\n")
    assert load_topology(ok).lambda_["orders.fifo"].function_timeout == 10


def test_a_function_timeout_that_leaves_no_time_for_the_handlers_is_refused(
    tmp_path: Path,
) -> None:
    handlers = (
        "events:\n  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: orders}]}\n"
        "handlers:\n  orders: {events: {Ping: 'tests.worker.apps:record'}, timeout: 10}\n"
    )
    path = tmp_path / "topology.yaml"
    path.write_text(SMALL + handlers + "lambda:\n  orders: {function: f, function_timeout: 12}\n")
    with pytest.raises(TopologyError) as exc:
        load_topology(path)
    assert [p.message for p in exc.value.problems] == [
        "lambda.orders.function_timeout: the entry point starts a record only with more than 12 s "
        "left (2 s, plus the handlers' timeout); a function_timeout of 12 s would start none"
    ]
    path.write_text(SMALL + handlers + "lambda:\n  orders: {function: f, function_timeout: 13}\n")
    assert load_topology(path).lambda_["orders"].function_timeout == 13


def test_an_unknown_queue_and_bad_values_are_reported_at_their_line(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """\
        order: {function: f}
        orders: {function: "not a name", maximum_concurrency: 1, batchsize: 3}
        """,
    )
    assert got[0] == (
        "T:6:3: lambda.order: queue 'order' is not declared under queues (did you mean 'orders'?)"
    )
    assert got[1].startswith("T:7:22: lambda.orders.function: must be text matching")
    assert got[2:] == [
        "T:7:57: lambda.orders.maximum_concurrency: must be between 2 and 1000, got 1",
        "T:7:60: lambda.orders.batchsize: unknown key (did you mean batch_size?)",
    ]


def test_one_mapping_per_queue_named_queue_to_function_reporting_batch_item_failures() -> None:
    t = topology({"orders": {"function": "orders-consumer", "maximum_concurrency": 5}})
    (mapping,) = mappings(t).values()
    assert mapping.name == "dev-orders -> orders-consumer"
    assert mapping.attributes == {
        "BatchSize": "10",
        "MaximumBatchingWindowInSeconds": "0",
        "FunctionResponseTypes": '["ReportBatchItemFailures"]',
        "MaximumConcurrency": "5",
        "Enabled": "true",
    }
    assert mapping.ref["queue_arn"] == "arn:aws:sqs:eu-west-1:123456789012:dev-orders"
    assert mapping.tags == ownership_tags(t, "dev")
    assert mappings(topology({})) == {}


def lambda_answer(r: Resource, uuid: str = "u-1") -> dict[str, Any]:
    """What ListEventSourceMappings answers for a mapping created from ``r``."""
    request = settings(r)
    return {
        "UUID": uuid,
        "EventSourceArn": r.ref["queue_arn"],
        "FunctionArn": f"arn:aws:lambda:eu-west-1:123456789012:function:{r.ref['function']}",
        "EventSourceMappingArn": f"arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:{uuid}",
        "BatchSize": request["BatchSize"],
        "MaximumBatchingWindowInSeconds": request["MaximumBatchingWindowInSeconds"],
        "FunctionResponseTypes": request["FunctionResponseTypes"],
        "ScalingConfig": request["ScalingConfig"],
        "State": "Enabled" if request["Enabled"] else "Disabled",
    }


@pytest.mark.parametrize(
    "section",
    [
        {"function": "f"},
        {"function": "f", "batch_size": 500, "batching_window": 3, "maximum_concurrency": 2},
        {"function": "f", "enabled": False, "maximum_concurrency": 1000},
    ],
)
def test_nothing_to_do_when_lambda_holds_what_the_topology_says(section: dict[str, Any]) -> None:
    t = topology({"orders": section})
    desired = list(mappings(t).values())
    scope = Scope("dev", ownership_tags(t, "dev"), prune=True)
    observed = [read_mapping(lambda_answer(r), r.tags or {}, scope, r.name) for r in desired]
    assert all(o.owned for o in observed)
    assert plan(desired, observed, prune=True).changes == ()


def test_a_changed_setting_is_an_update_and_a_removed_mapping_a_delete() -> None:
    before = topology({"orders": {"function": "f", "maximum_concurrency": 5}})
    scope = Scope("dev", ownership_tags(before, "dev"), prune=True)
    observed = [
        read_mapping(lambda_answer(r), r.tags or {}, scope, r.name)
        for r in mappings(before).values()
    ]
    after = topology({"orders": {"function": "f", "batch_size": 5}})
    changes = plan(list(mappings(after).values()), observed, prune=True).changes
    assert {(c.attribute, c.old, c.new) for c in changes if isinstance(c, Update)} == {
        ("BatchSize", "10", "5"),
        ("MaximumConcurrency", "5", ""),
    }
    assert settings(mappings(after)["dev-orders -> f"])["ScalingConfig"] == {}
    gone = plan([], observed, prune=True).changes
    assert [str(c) for c in gone] == ["- delete mapping dev-orders -> f"]


def test_the_graph_shows_each_function_fed_by_its_queue() -> None:
    t = topology({"orders": {"function": "arn:aws:lambda:eu-west-1:123456789012:function:fn:live"}})
    text = render(t)
    assert 'function_arn_aws_lambda_eu_west_1_123456789012_function_fn_live[/"fn' in text
    assert 'queue_orders -->|"batch 10"| function_' in text
