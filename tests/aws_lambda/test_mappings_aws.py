"""``bus plan/apply/--prune`` manage SQS event source mappings, against the emulator's Lambda API.

LocalStack on the host accepts CreateFunction (the function stays ``Pending``: without Docker it
cannot run it) and the event source mapping calls; the mappings here are created disabled, so
that its poller never tries to invoke the function."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.topology.apply import apply, converge, make_plan
from bus.topology.load import load_topology
from bus.topology.model import physical_name
from bus.topology.plan import Create, Delete, Update

pytestmark = pytest.mark.aws


def code() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "import bus\nhandler = bus.handler_for('work')\n")
    return buf.getvalue()


def topology(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(
        "name: lamprov\nqueues:\n  work: {visibility_timeout: 60}\n"
        "  other.fifo: {fifo: true}\n" + section
    )
    return path


@pytest.mark.timeout(120)
async def test_mappings_are_created_updated_and_pruned(aws: AwsClients, tmp_path: Path) -> None:
    env = "p" + uuid.uuid4().hex[:8]
    function = f"{env}-consumer"
    await aws.lambda_.create_function(
        FunctionName=function,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/consumer",
        Handler="app.handler",
        Code={"ZipFile": code()},
        Timeout=10,
    )
    section = (
        f"lambda:\n  work: {{function: {function}, batch_size: 5, maximum_concurrency: 3, "
        "enabled: false, function_timeout: 10}\n"
    )
    first = await converge(aws, load_topology(topology(tmp_path, section), env=env), env)
    name = f"{physical_name('work', env)} -> {function}"
    assert [str(c) for c in first.changes if c.resource.kind == "mapping"] == [
        f"+ create mapping {name}"
    ]
    assert [c for c in first.changes if isinstance(c, Create) and c.resource.kind == "mapping"]
    listed = await aws.lambda_.list_event_source_mappings(FunctionName=function)
    (esm,) = listed["EventSourceMappings"]
    assert esm["BatchSize"] == 5
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert esm["EventSourceArn"].endswith(f":{physical_name('work', env)}")
    tags = await aws.lambda_.list_tags(Resource=esm["EventSourceMappingArn"])
    assert tags["Tags"]["bus:topology"] == "lamprov"

    changed = load_topology(
        topology(tmp_path, f"lambda:\n  work: {{function: {function}, enabled: false}}\n"), env=env
    )
    again = await make_plan(aws, changed, env)
    assert {(c.attribute, c.old, c.new) for c in again.changes if isinstance(c, Update)} == {
        ("BatchSize", "5", "10"),
        ("MaximumConcurrency", "3", ""),
    }
    await apply(aws, again)
    assert (await make_plan(aws, changed, env)).changes == ()

    removed = load_topology(topology(tmp_path, ""), env=env)
    assert (await make_plan(aws, removed, env)).changes == ()  # not without --prune
    pruned = await make_plan(aws, removed, env, prune=True)
    assert [str(c) for c in pruned.changes if isinstance(c, Delete)] == [f"- delete mapping {name}"]
    await apply(aws, pruned)
    assert (await make_plan(aws, removed, env, prune=True)).changes == ()
