"""``bus apply`` against the in-memory AWS: it creates what the topology declares, and planning
again right after finds nothing to do (so the in-memory AWS answers what apply and observe ask)."""

from __future__ import annotations

from pathlib import Path

from bus.memory import MemoryAws
from bus.topology.apply import converge, make_plan
from bus.topology.load import load_topology

ROOT = Path(__file__).resolve().parents[2]


async def test_the_reference_topology_converges_and_replans_to_nothing(memory: MemoryAws) -> None:
    topology = load_topology(ROOT / "topology.yaml")
    done = await converge(memory, topology, "test")
    assert done.changes
    again = await make_plan(memory, topology, "test")
    assert [str(c) for c in again.changes] == []
    assert set(memory.memory_sqs.queues) >= {"test-billing", "test-billing-dlq", "test-ledger.fifo"}
    (bus,) = [b for b in memory.memory_events.buses if b != "default"]
    assert bus == "test-shop-events"
    (rule,) = memory.memory_events.buses[bus].rules.values()
    assert [t["Arn"].rsplit(":", 1)[-1] for t in rule.targets.values()] == ["test-fraud-review"]


async def test_pruning_removes_what_the_topology_no_longer_declares(memory: MemoryAws) -> None:
    topology = load_topology(ROOT / "topology.yaml")
    await converge(memory, topology, "test")
    smaller = topology.model_copy(update={"rules": {}})
    await converge(memory, smaller, "test", prune=True)
    assert memory.memory_events.buses["test-shop-events"].rules == {}
    assert [str(c) for c in (await make_plan(memory, smaller, "test", prune=True)).changes] == []
