"""``bus up`` on an AWS that is not its own emulator asks before applying, as ``bus apply`` does."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.settings import Settings
from tests.cli.test_up import TOPOLOGY, run

pytestmark = pytest.mark.aws


class Terminal(io.StringIO):
    """A stdin that says it is a terminal and answers with its text."""

    def isatty(self) -> bool:
        return True


def _argv(settings: Settings, env: str, *extra: str) -> list[str]:
    return ["up", "--once", "-t", str(TOPOLOGY), "--env", env,
            "--endpoint-url", str(settings.endpoint_url), "--region", str(settings.region),
            *extra]  # fmt: skip


def _queues(settings: Settings, env: str) -> list[str]:
    async def listed() -> list[str]:
        async with AwsClients(settings) as aws:
            answer = await aws.sqs.list_queues(QueueNamePrefix=env)
            return list(answer.get("QueueUrls", []))

    return asyncio.run(listed())


def test_without_a_terminal_and_without_yes_it_refuses_and_changes_nothing(
    bus_settings: Settings,
    bus_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run(_argv(bus_settings, bus_env), capsys)
    assert code == 1
    assert f"+ create queue {bus_env}-billing\n" in out  # the plan is shown first
    assert (
        f"error: stdin is not a terminal, so not asking: {bus_settings.endpoint_url} is not "
        "bus up's own emulator. Apply 32 changes there? Pass --yes to go ahead." in err
    )
    assert "```mermaid" not in out
    assert _queues(bus_settings, bus_env) == []


def test_on_a_terminal_no_means_nothing_is_changed(
    bus_settings: Settings,
    bus_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, err = run(_argv(bus_settings, bus_env), capsys)
    assert code == 1
    assert "Apply 32 changes there? [y/N]:" in out
    assert "Cancelled; nothing was changed." in err
    assert _queues(bus_settings, bus_env) == []


def test_on_a_terminal_yes_applies(
    bus_settings: Settings,
    bus_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, out, err = run(_argv(bus_settings, bus_env), capsys)
    assert code == 0, err
    assert "```mermaid" in out
    assert len(_queues(bus_settings, bus_env)) == 11  # billing, shipping, ... and their DLQs
    # Nothing to change: nothing to ask, even without a terminal.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run(_argv(bus_settings, bus_env), capsys)
    assert code == 0, err
    assert "No changes. 32 unchanged.\n" in out
