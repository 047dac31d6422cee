"""load_topology: every malformed file in ``bad/`` reports its problem at the right place."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.errors import TopologyError
from bus.topology.check import check_topology
from bus.topology.load import inspect_topology, load_topology
from bus.topology.model import (
    DeadLetter,
    Destination,
    EventBus,
    EventType,
    HandlerBinding,
    Queue,
    Rule,
    Subscription,
    Target,
    Topic,
    Topology,
)

ROOT = Path(__file__).parents[2]
BAD = Path(__file__).parent / "bad"

# (file, env, line, column, what the message must say)
CASES = [
    ("syntax_error.yaml", None, 5, 4, "YAML syntax error"),
    ("unclosed_flow.yaml", None, 4, 11, "expected ',' or '}'"),
    ("duplicate_key.yaml", None, 6, 3, "queues.billing: duplicate key (first defined on line 3)"),
    (
        "unknown_key.yaml",
        None,
        4,
        5,
        "visibility_timout: unknown key (did you mean visibility_timeout?)",
    ),
    ("unknown_top_level_key.yaml", None, 2, 1, "topic: unknown key (did you mean topics?)"),
    (
        "out_of_range.yaml",
        None,
        4,
        25,
        "visibility_timeout: must be between 0 and 43200, got 50000",
    ),
    ("wrong_type.yaml", None, 5, 26, "max_receive_count: must be a whole number, got 'lots'"),
    (
        "wrong_choice.yaml",
        None,
        9,
        26,
        "must be one of 'MessageAttributes', 'MessageBody', got 'Body'",
    ),
    (
        "dead_letter_not_mapping.yaml",
        None,
        4,
        18,
        "dead_letter: must be a mapping or false, got true",
    ),
    ("missing_required.yaml", None, 5, 3, "rules.big-orders: missing required key 'event_pattern'"),
    ("model_rule.yaml", None, 3, 3, "queues.billing: encryption: kms needs kms_master_key_id"),
    ("unquoted_bool_key.yaml", None, 4, 3, "key 'on' reads as true in YAML"),
    ("empty.yaml", None, 1, 1, "the file is empty"),
    ("not_a_mapping.yaml", None, 1, 1, "the topology must be a mapping"),
    ("queue_name_too_long.yaml", None, 3, 3, "is 81 characters long; the limit is 80"),
    ("derived_dlq_name_too_long.yaml", None, 3, 3, "derived dead-letter queue name"),
    ("long_name_with_env.yaml", "staging-eu", 3, 3, "(with env 'staging-eu') is 83 characters"),
    ("topic_name_characters.yaml", None, 3, 3, "SNS topic name 'orders!' contains '!'"),
    (
        "rule_name_characters.yaml",
        None,
        5,
        3,
        "EventBridge rule name 'high value orders' contains ' '",
    ),
    ("default_bus_declared.yaml", None, 3, 3, "the default bus exists in every account"),
    ("fifo_without_suffix.yaml", None, 3, 3, "a FIFO queue name must end with .fifo"),
    ("suffix_without_fifo.yaml", None, 3, 3, "ends with .fifo, so set fifo: true"),
    ("fifo_only_attribute.yaml", None, 4, 26, "deduplication_scope applies to FIFO queues only"),
    (
        "fifo_topic_standard_queue.yaml",
        None,
        8,
        12,
        "FIFO topic 'ledger.fifo' can only deliver to FIFO queues",
    ),
    ("fifo_queue_standard_dlq.yaml", None, 5, 26, "a FIFO queue needs a FIFO dead-letter queue"),
    ("fifo_target_without_group.yaml", None, 8, 9, "is FIFO: set message_group_id"),
    ("fifo_eventbridge_dlq.yaml", None, 10, 28, "EventBridge dead-letter queues must be standard"),
    ("fifo_event_without_group.yaml", None, 8, 9, "publishes to FIFO topic 'ledger.fifo'"),
    (
        "undeclared_topic.yaml",
        None,
        7,
        12,
        "topic 'order' is not declared under topics (did you mean 'orders'?)",
    ),
    ("undeclared_bus.yaml", None, 8, 10, "bus 'shop-event' is not declared under buses"),
    (
        "undeclared_event_type.yaml",
        None,
        10,
        19,
        "event type 'OrderPlace' is not declared under events",
    ),
    (
        "handler_for_undeclared_queue.yaml",
        None,
        7,
        3,
        "queue 'biling' is not declared under queues",
    ),
    ("own_dead_letter_queue.yaml", None, 4, 26, "a queue cannot be its own dead-letter queue"),
    ("dead_letter_chain.yaml", None, 6, 5, "a dead-letter queue cannot have one of its own"),
    (
        "derived_dlq_collision.yaml",
        None,
        4,
        3,
        "collides with the dead-letter queue bus derives for 'billing'",
    ),
    ("duplicate_subscription.yaml", None, 9, 5, "subscribed to topic 'orders' twice"),
    ("duplicate_target_id.yaml", None, 11, 9, "target id 'review' is used twice"),
    (
        "default_target_id_too_long.yaml",
        None,
        8,
        9,
        "the target id defaults to the queue's name 'fraud-review-for-orders-of-high-value-"
        "placed-by-first-time-customers-eu', which is 71 characters long; EventBridge target ids "
        "have at most 64: set id",
    ),
    (
        "input_path_not_json_path.yaml",
        None,
        9,
        21,
        "rules.big-orders.targets[0].input_path: must be a JSONPath starting with '$' "
        "(like $.detail), got 'detail.data'",
    ),
    (
        "input_paths_map_not_json_path.yaml",
        None,
        12,
        20,
        "input_transformer.input_paths_map.total: must be a JSONPath starting with '$'",
    ),
    (
        "scope_without_filter_policy.yaml",
        None,
        9,
        26,
        "subscriptions[0].filter_policy_scope: filter_policy_scope without a filter_policy has "
        "no effect",
    ),
    ("reserved_attribute.yaml", None, 8, 27, "'event_type' is reserved"),
    (
        "bad_event_pattern.yaml",
        None,
        10,
        26,
        "unknown operator 'numerical' (did you mean numeric?)",
    ),
    ("bad_numeric_range.yaml", None, 9, 26, "a numeric range is [>|>=, low, <|<=, high]"),
    (
        "nested_attribute_policy.yaml",
        None,
        10,
        7,
        "nested objects need filter_policy_scope: MessageBody",
    ),
    ("reserved_tag.yaml", None, 6, 18, "tag keys starting with 'aws:' are reserved"),
    (
        "claim_check_read_from.yaml",
        None,
        8,
        7,
        "claim_check.read_from[1]: an S3 bucket name has 3-63 lowercase letters",
    ),
]


@pytest.mark.parametrize(
    ("name", "env", "line", "column", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_file_reports_its_problem_at_its_position(
    name: str, env: str | None, line: int, column: int, expected: str
) -> None:
    path = BAD / name
    with pytest.raises(TopologyError) as info:
        load_topology(path, env=env)
    assert len(info.value.problems) == 1, info.value.problems
    problem = info.value.problems[0]
    assert (problem.file, problem.line, problem.column) == (str(path), line, column)
    assert expected in problem.message
    assert str(problem).startswith(f"{path}:{line}:{column}: ")


def test_every_bad_file_is_in_the_table() -> None:
    listed = {c[0] for c in CASES} | {"several_problems.yaml", "broken_sections.yaml"}
    assert {p.name for p in BAD.glob("*.yaml")} == listed


def test_a_file_with_several_problems_reports_all_of_them_in_order() -> None:
    with pytest.raises(TopologyError) as info:
        load_topology(BAD / "several_problems.yaml", env="dev")
    found = [(p.line, p.message) for p in info.value.problems]
    expected = [
        (1, "name: must be lowercase letters"),
        (7, "queues.billing.visibility_timout: unknown key"),
        (8, "queues.billing.visibility_timeout: must be between 0 and 43200, got 50000"),
        (9, "queues.billing.dead_letter.max_receive_count: must be between 1 and 1000, got 0"),
        (12, "queues.ledger.fifo.dead_letter: must be a mapping or false, got true"),
        (13, "queues.odd: encryption: kms needs kms_master_key_id"),
        (16, "queues.x.fifo.fifo: must be true or false, got 'maybe'"),
        (19, "subscriptions[0].queue: queue 'billng' is not declared"),
        (21, "subscriptions[1].queue: FIFO topic 'ledger.fifo' can only deliver to FIFO queues"),
        (24, "subscriptions[2].filter_policy_scope: must be one of"),
        (27, "rules.r.event_pattern.source: must be a list of values or a nested object"),
        (28, "rules.r.targets: must have at least 1 entry, got 0"),
        (31, "events.E.model: must be an import path"),
        (32, "events.E.attributes[0]: 'event_type' is reserved"),
        (32, "events.E.attributes[1]: attribute 'bad name' must name a field"),
        (33, "events.yes: key 'yes' reads as true in YAML"),
        (36, "handlers.billing.events.Missing: event type 'Missing' is not declared"),
    ]
    assert len(found) == len(expected), found
    for (line, message), (want_line, want) in zip(found, expected, strict=True):
        assert line == want_line
        assert message.startswith(want), message
    assert str(info.value).startswith("17 problems in topology:\n")


def test_broken_sections_do_not_cause_false_findings_elsewhere() -> None:
    # `topics` is a list, so "topic 'orders' is not declared" would be noise; `queues.shipping`
    # is broken, so is its subscription; E lacks `model` but still exists for its handler.
    _, problems = inspect_topology(BAD / "broken_sections.yaml")
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (2, "topics"),
        (5, "queues.billing.fifo"),
        (6, "queues.shipping"),
        (12, "subscriptions[2].topic"),
        (12, "subscriptions[2].queue"),
        (14, "subscriptions[3].queue"),
        (16, "events.E"),
        (20, "handlers.billing.events.F"),
        (21, "handlers.billing.concurrency"),
        (23, "handlers.shipping.events"),
    ]
    assert "queue 'nope2' is not declared under queues" in problems[5].message


def test_semantic_checks_skip_what_structural_errors_already_broke() -> None:
    # x.fifo has an invalid `fifo`; its FIFO-ness is unknown, so no FIFO findings follow from it
    _, problems = inspect_topology(BAD / "several_problems.yaml")
    assert not any("x.fifo' is" in p.message for p in problems)


@pytest.mark.parametrize("env", [None, "dev", "abcdefghij0123456789"])
def test_reference_topology_is_valid(env: str | None) -> None:
    path = ROOT / "topology.yaml"
    loaded = load_topology(path, env=env)
    assert loaded == Topology.model_validate(yaml.safe_load(path.read_text()))


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:1:1: cannot read the topology file: No such file or directory"
    ]


def test_anchors_and_merge_keys_work_and_do_not_count_as_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(
        "name: shop\n"
        "queues:\n"
        "  billing: &slow {visibility_timeout: 300, delay_seconds: 5}\n"
        "  shipping:\n"
        "    <<: *slow\n"
        "    visibility_timeout: 60\n"
    )
    loaded = load_topology(path)
    assert loaded.queues["billing"].visibility_timeout == 300
    assert loaded.queues["shipping"].visibility_timeout == 60
    assert loaded.queues["shipping"].delay_seconds == 5


def test_problems_in_merged_values_point_at_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(
        "name: shop\nbase: &base {visibility_timeout: -1}\nqueues:\n  billing:\n    <<: *base\n"
    )
    _, problems = inspect_topology(path)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (2, "base"),
        (2, "queues.billing.visibility_timeout"),
    ]


def test_recursive_alias_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text("name: shop\ndescription: &loop [*loop]\n")
    _, problems = inspect_topology(path)
    assert any("recursive alias" in p.message for p in problems)


# -- property: any valid topology dumped to YAML loads back equal ---------------------------------

_stems = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
_fields = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True).filter(
    lambda f: f not in ("event_type", "event_version")
)
_tags = st.dictionaries(
    st.from_regex(r"[a-z]{1,10}", fullmatch=True), st.text(max_size=20), max_size=3
)
_import = st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}:[A-Za-z_]{1,8}", fullmatch=True)


def _name(stem: str, fifo: bool) -> str:
    return f"{stem}.fifo" if fifo else stem


@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    topics = {
        _name(stem, fifo): Topic(
            fifo=fifo,
            content_based_deduplication=fifo and draw(st.booleans()),
            display_name=draw(st.none() | st.text(max_size=30)),
            tags=draw(_tags),
        )
        for stem, fifo in draw(st.dictionaries(_stems, st.booleans(), max_size=3)).items()
    }
    queues = {
        _name(stem, fifo): Queue(
            fifo=fifo,
            visibility_timeout=draw(st.integers(0, 43_200)),
            message_retention_period=draw(st.integers(60, 1_209_600)),
            delay_seconds=draw(st.integers(0, 900)),
            dead_letter=draw(
                st.just(False) | st.builds(DeadLetter, max_receive_count=st.integers(1, 1000))
            ),
            tags=draw(_tags),
        )
        for stem, fifo in draw(
            st.dictionaries(_stems, st.booleans(), min_size=1, max_size=4)
        ).items()
    }
    pairs = [(t, q) for t in topics for q in queues if topics[t].fifo == queues[q].fifo]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=4)) if pairs else []
    subscriptions = [
        Subscription(
            topic=t,
            queue=q,
            raw_message_delivery=draw(st.booleans()),
            filter_policy=draw(st.none() | st.builds(lambda v: {"event_type": [v]}, _stems)),
        )
        for t, q in chosen
    ]
    buses = {
        stem: EventBus(description=draw(st.none() | st.text(max_size=40)))
        for stem in draw(st.sets(_stems, max_size=2))
    }
    standard = [q for q in queues if not queues[q].fifo]
    rules = {}
    if standard:
        for stem in draw(st.sets(_stems, max_size=2)):
            rules[stem] = Rule(
                bus=draw(st.sampled_from(["default", *buses])),
                event_pattern={"source": [draw(_stems)]},
                targets=[Target(queue=draw(st.sampled_from(standard)))],
            )
    events = {}
    for stem in draw(st.sets(_stems, max_size=3)):
        topic = draw(st.none() | st.sampled_from(sorted(topics))) if topics else None
        fifo = topic is not None and topics[topic].fifo
        events[stem.capitalize()] = EventType(
            model=draw(_import),
            version=draw(st.integers(1, 5)),
            publish_to=[Destination(topic=topic)] if topic else [],
            attributes=draw(st.lists(_fields, unique=True, max_size=3)),
            message_group_id=draw(_fields) if fifo else None,
        )
    handlers = {}
    if events:
        for queue in draw(st.sets(st.sampled_from(sorted(queues)), max_size=2)):
            types = draw(st.sets(st.sampled_from(sorted(events)), min_size=1))
            handlers[queue] = HandlerBinding(events={t: draw(_import) for t in types})
    return Topology(
        name=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
        topics=topics,
        queues=queues,
        subscriptions=subscriptions,
        buses=buses,
        rules=rules,
        events=events,
        handlers=handlers,
    )


@settings(max_examples=60, deadline=None)
@given(topologies())
def test_any_valid_topology_dumped_to_yaml_loads_back_equal(topology: Topology) -> None:
    assert check_topology(topology) == []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topology.yaml"
        path.write_text(yaml.safe_dump(topology.model_dump(mode="json", exclude_defaults=True)))
        assert load_topology(path) == topology
