"""The in-memory Lambda holds the event source mappings ``bus apply`` manages: converged, planned
again to nothing, updated, pruned."""

from __future__ import annotations

from pathlib import Path

from bus.memory import MemoryAws
from bus.topology.apply import converge, make_plan
from bus.topology.load import load_topology
from bus.topology.plan import Update

BASE = "name: mem\nqueues:\n  work: {visibility_timeout: 60}\n"


def topology(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(BASE + section)
    return path


async def test_mappings_converge_update_and_prune(tmp_path: Path) -> None:
    async with MemoryAws() as aws:
        first = load_topology(
            topology(tmp_path, "lambda:\n  work: {function: fn, batch_size: 5}\n")
        )
        await converge(aws, first, "test")
        assert (await make_plan(aws, first, "test", prune=True)).changes == ()
        (mapping,) = aws.memory_lambda.mappings.values()
        assert mapping["BatchSize"] == 5
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["FunctionArn"].endswith(":function:fn")

        second = load_topology(
            topology(tmp_path, "lambda:\n  work: {function: fn, maximum_concurrency: 4}\n")
        )
        changes = (await make_plan(aws, second, "test")).changes
        assert {(c.attribute, c.new) for c in changes if isinstance(c, Update)} == {
            ("BatchSize", "10"),
            ("MaximumConcurrency", "4"),
        }
        await converge(aws, second, "test")
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": 4}

        none = load_topology(topology(tmp_path, ""))
        await converge(aws, none, "test", prune=True)
        assert aws.memory_lambda.mappings == {}
