"""``cloudevents.source`` and ``cloudevents.type_prefix`` in topology.yaml: what they change, the
EventBridge limits they are checked against, and ``bus validate``'s warning about rule patterns
naming a source or detail-type no declared event has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bus.cli import main
from bus.envelope import decode, encode_body, message_attributes, new_envelope
from bus.schema import Registry
from bus.topology.check import check_topology
from bus.topology.cloudevents import advise
from bus.topology.load import load_topology
from bus.topology.model import Topology
from schemas.orders import OrderPlaced

ROOT = Path(__file__).resolve().parents[2]
ORDER = OrderPlaced(order_id="o-1", customer_id="c-1", total_cents=5, country="DE")

PREFIXED = """
name: shop
cloudevents:
  source: urn:example:shop
  type_prefix: com.example.shop.
buses:
  events: {}
queues:
  review: {}
rules:
  big:
    bus: events
    event_pattern:
      source: [urn:example:shop]
      detail-type: [com.example.shop.OrderPlaced]
    targets: [{queue: review}]
events:
  OrderPlaced:
    model: schemas.orders:OrderPlaced
    publish_to: [{bus: events}]
  PaymentFailed:
    model: schemas.orders:PaymentFailed
    source: https://payments.example.com
"""


def _load(tmp_path: Path, text: str) -> Topology:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    return load_topology(path)


def test_defaults_are_unchanged() -> None:
    topology = load_topology(ROOT / "topology.yaml")
    registry = Registry.from_topology(topology, ROOT)
    spec = registry.spec("OrderPlaced")
    assert (spec.source, spec.cloudevents_type) == ("shop", "OrderPlaced")
    assert advise(topology) == []


def test_source_and_type_prefix_reach_the_envelope_attributes_and_registry(tmp_path: Path) -> None:
    topology = _load(tmp_path, PREFIXED)
    registry = Registry.from_topology(topology, ROOT)
    spec = registry.spec("OrderPlaced")
    assert (spec.source, spec.cloudevents_type) == (
        "urn:example:shop",
        "com.example.shop.OrderPlaced",
    )
    assert registry.spec("PaymentFailed").source == "https://payments.example.com"  # its own wins
    env = new_envelope(spec, ORDER)
    body = json.loads(encode_body(env))
    assert (body["source"], body["type"]) == ("urn:example:shop", "com.example.shop.OrderPlaced")
    assert (
        message_attributes(env, spec, ORDER)["event_type"]["StringValue"] == spec.cloudevents_type
    )
    decoded = decode(encode_body(env)).envelope
    assert registry.spec(decoded.type) is spec  # found by its CloudEvents type
    assert registry.event_name(decoded.type) == "OrderPlaced"
    assert registry.event_name("Unknown") == "Unknown"
    assert isinstance(registry.parse(decoded.type, decoded.version, decoded.data), OrderPlaced)
    assert "com.example.shop.OrderPlaced" in registry
    assert advise(topology) == []


def test_eventbridge_limits_on_source_and_detail_type(tmp_path: Path) -> None:
    text = PREFIXED.replace("urn:example:shop\n  type_prefix", "aws.shop\n  type_prefix")
    findings = check_topology(Topology.model_validate(_yaml(text)))
    assert [(f.path, "may not start with 'aws.'" in f.message) for f in findings] == [
        (("cloudevents", "source"), True)
    ]
    long = PREFIXED.replace("com.example.shop.", "x" * 100).replace(
        "  OrderPlaced:\n", "  OrderPlacedWithAVeryLongNameIndeed:\n"
    )
    findings = check_topology(Topology.model_validate(_yaml(long)))
    assert [f.path for f in findings] == [("cloudevents", "type_prefix")]
    assert "EventBridge's DetailType takes at most 128" in findings[0].message


def _yaml(text: str) -> object:
    return yaml.safe_load(text)


def test_validate_warns_about_a_source_or_type_no_event_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(
        PREFIXED.replace("source: [urn:example:shop]", "source: [shop]").replace(
            "detail-type: [com.example.shop.OrderPlaced]", "detail-type: [OrderPlaced]"
        )
    )
    with pytest.raises(SystemExit) as info:
        main(["validate", "-t", str(path)])
    assert info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"{path}:14:16: rules.big.event_pattern.source[0]: warning: no declared event has the "
        "source 'shop' (declared: https://payments.example.com, urn:example:shop); the rule "
        "matches only events of other producers"
    )
    assert lines[1].startswith(f"{path}:15:21: rules.big.event_pattern.detail-type[0]: warning: ")
    assert "the type 'OrderPlaced' (declared: com.example.shop.OrderPlaced, " in lines[1]
    assert lines[2].startswith(f"{path}: valid: ")
