"""Broken references: each is reported, and the first ``MAX_SUGGESTIONS`` of a run get a "did you
mean" (difflib against every declared name; unbounded, many broken references against many queues
would take quadratic time). How long it takes at scale: ``bench/topology.py``."""

from __future__ import annotations

from bus.topology.check import check_topology
from bus.topology.check_refs import MAX_SUGGESTIONS, Suggestions
from bus.topology.model import Topology


def test_the_first_broken_references_get_a_suggestion_and_the_rest_do_not() -> None:
    queues = {f"billing-{i:03d}": {} for i in range(200)}
    broken = 3 * MAX_SUGGESTIONS
    subscriptions = [{"topic": "orders", "queue": f"biling-{i:03d}"} for i in range(broken)]
    t = Topology.model_validate(
        {"name": "t", "topics": {"orders": {}}, "queues": queues, "subscriptions": subscriptions}
    )
    findings = [f for f in check_topology(t) if f.path[0] == "subscriptions"]
    assert len(findings) == broken  # every one reported
    hinted = [f for f in findings if "did you mean" in f.message]
    assert len(hinted) == MAX_SUGGESTIONS
    assert hinted[0].message == (
        "queue 'biling-000' is not declared under queues (did you mean 'billing-000'?)"
    )
    assert findings[-1].message == f"queue 'biling-{broken - 1:03d}' is not declared under queues"


def test_suggestions_stop_at_their_limit_and_sort_each_collection_once() -> None:
    names = {"orders": 1, "payments": 2}
    suggestions = Suggestions(limit=2)
    assert suggestions.hint("ordrs", names) == " (did you mean 'orders'?)"
    assert suggestions.hint("zzz", names) == ""  # no close match: still counts
    assert suggestions.hint("paymnts", names) == ""  # the limit is reached
    assert Suggestions().hint("x", {}) == ""


def test_alarm_overrides_and_lambda_mappings_bound_their_suggestions_too() -> None:
    queues = {f"billing-{i:03d}": {} for i in range(200)}
    broken = 3 * MAX_SUGGESTIONS
    t = Topology.model_validate(
        {
            "name": "t",
            "queues": queues,
            "alarms": {"queues": {f"biling-{i:03d}": {} for i in range(broken)}},
            "lambda": {f"biling-{i:03d}": {"function": "f"} for i in range(broken)},
        }
    )
    for section in ("alarms", "lambda"):
        findings = [f for f in check_topology(t) if f.path[0] == section]
        assert len(findings) == broken
        hinted = [f for f in findings if "did you mean" in f.message]
        assert len(hinted) == MAX_SUGGESTIONS
        assert hinted[0].message.endswith("(did you mean 'billing-000'?)")
