"""``bus plan``, ``bus apply`` and ``bus graph`` through the real entry point: exit codes and output."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bus.cli import main
from bus.cli import topology as topology_cli
from bus.settings import Settings
from bus.topology.graph import render
from bus.topology.load import load_topology
from bus.topology.plan import Plan, ReplaceRequired
from bus.topology.resolve import Resource

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "topology.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 1 if code else 0), captured.out, captured.err


@pytest.mark.aws
def test_plan_apply_plan_exit_codes_and_output(
    bus_settings: Settings, bus_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = ["--endpoint-url", str(bus_settings.endpoint_url), "--region", str(bus_settings.region)]
    common = ["-t", str(TOPOLOGY), "--env", bus_env, *aws]

    code, out, _ = run(["plan", *common, "--detailed-exitcode"], capsys)
    assert code == 2
    assert f"+ create queue {bus_env}-billing-dlq\n" in out
    assert f"+ create subscription {bus_env}-orders -> {bus_env}-billing\n" in out
    assert out.endswith("Plan: 32 to create, 0 to update, 0 to delete, 0 unchanged.\n")
    assert len(out.splitlines()) == 33

    code, out, _ = run(["plan", *common], capsys)
    assert code == 0  # without --detailed-exitcode, changes are not an error

    code, out, err = run(["apply", *common], capsys)  # stdin is not a terminal here
    assert code == 1
    assert "not a terminal, so not asking: Apply" in err
    assert "Pass --yes" in err
    assert run(["plan", *common, "--detailed-exitcode"], capsys)[0] == 2  # nothing was applied

    code, out, _ = run(["apply", *common, "--yes"], capsys)
    assert code == 0
    assert out.endswith("Applied. 32 created, 0 updated, 0 deleted.\n")

    code, out, _ = run(["plan", *common, "--detailed-exitcode", "--prune"], capsys)
    assert (code, out) == (0, "No changes. 32 unchanged.\n")

    code, out, _ = run(["apply", *common], capsys)  # nothing to do: no confirmation needed
    assert (code, out) == (0, "No changes. 32 unchanged.\n")


@pytest.mark.aws
def test_plan_shows_one_update_line(
    bus_settings: Settings, bus_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "topology.yaml"
    shutil.copy(TOPOLOGY, path)
    aws = ["--endpoint-url", str(bus_settings.endpoint_url), "--region", str(bus_settings.region)]
    common = ["-t", str(path), "--env", bus_env, *aws]
    assert run(["apply", *common, "--yes"], capsys)[0] == 0
    path.write_text(path.read_text().replace("visibility_timeout: 120", "visibility_timeout: 150"))
    code, out, _ = run(["plan", *common, "--detailed-exitcode"], capsys)
    assert code == 2
    assert out == (
        f"~ update queue {bus_env}-fraud-review: VisibilityTimeout: 120 -> 150\n"
        "Plan: 0 to create, 1 to update, 0 to delete, 31 unchanged.\n"
    )


def test_invalid_topology_exits_3_before_calling_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text("name: shop\nqueues:\n  billing:\n    visibility_timout: 30\n")
    for command in ("plan", "apply"):
        code, _, err = run(
            [command, "-t", str(path), "--endpoint-url", "http://127.0.0.1:9"], capsys
        )
        assert code == 3
        assert f"{path}:4:5:" in err


def test_graph_prints_mermaid_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    topology = load_topology(TOPOLOGY)
    code, out, _ = run(["graph", "-t", str(TOPOLOGY)], capsys)
    assert (code, out) == (0, render(topology, "mermaid"))
    code, out, _ = run(["graph", "-t", str(TOPOLOGY), "--format", "dot", "--env", "dev"], capsys)
    assert (code, out) == (0, render(topology, "dot", env="dev"))
    assert 'label="dev-orders"' in out


def test_graph_rejects_an_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["graph", "-t", str(TOPOLOGY), "--format", "png"], capsys)
    assert code == 2  # usage error
    assert "png" in err


def test_plan_with_a_refused_change_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # AWS's naming rules keep a declared name from existing with the other FIFO-ness (only FIFO
    # queues and topics may end in .fifo, and they must), so the refusal is produced here by
    # replacing the observation: what is tested is the command's handling of a refused plan.
    queue = Resource("queue", "dev-shipping", {"FifoQueue": "true"}, {}, {"url": "u"})
    refused = ReplaceRequired(
        queue, replace(queue, attributes={}), "FifoQueue", "false", "true", "fixed at creation"
    )

    async def make_plan(*args: object, **kwargs: object) -> Plan:
        return Plan(changes=(refused,), unchanged=3)

    monkeypatch.setattr(topology_cli, "make_plan", make_plan)
    aws = ["--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"]  # never called
    common = ["-t", str(TOPOLOGY), "--env", "dev", *aws]
    for extra in ([], ["--detailed-exitcode"]):
        code, out, err = run(["plan", *common, *extra], capsys)
        assert code == 3
        assert out == (
            "! replace-required queue dev-shipping: FifoQueue: false -> true "
            "(cannot change in place)\n"
            "Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged, 1 replace-required "
            "(refused).\n"
        )
        assert err == (
            "error: 1 change cannot be made in place; nothing was changed:\n"
            "queue dev-shipping: FifoQueue false -> true: fixed at creation\n"
        )
