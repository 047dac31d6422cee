"""Reading what a process tree listens on from /proc, and refusing an emulator that is exposed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus import emulator
from bus.emulator import sockets
from bus.errors import EmulatorError

pytestmark = pytest.mark.skipif(not sockets.available(), reason="no per-process sockets in /proc")

# A parent that starts a child; the child listens on the given host and says its port.
LISTEN_IN_A_CHILD = """
import socket, subprocess, sys
child = '''
import socket, sys, time
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)
'''
proc = subprocess.Popen([sys.executable, "-c", child, sys.argv[1]], stdout=sys.stdout)
proc.wait()
"""


@pytest.fixture
def listening_tree(request: pytest.FixtureRequest) -> Iterator[tuple[int, int]]:
    """(parent pid, port) of a parent whose child listens on ``request.param``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTEN_IN_A_CHILD, request.param],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        port = int(proc.stdout.readline())
        yield proc.pid, port
    finally:
        for pid in reversed(sockets.descendants(proc.pid)):
            subprocess.run(["kill", str(pid)], check=False)
        proc.wait(10)
        proc.stdout.close()


@pytest.mark.parametrize("listening_tree", ["0.0.0.0"], indirect=True)
def test_listeners_of_a_child_on_every_interface_are_found_and_not_loopback(
    listening_tree: tuple[int, int],
) -> None:
    parent, port = listening_tree
    found = [each for each in sockets.listeners(parent) if each.port == port]
    assert len(found) == 1
    assert found[0].pid != parent  # held by the child, found through the parent
    assert found[0].host == "0.0.0.0"
    assert not found[0].is_loopback


@pytest.mark.parametrize("listening_tree", ["127.0.0.1", "::1"], indirect=True)
def test_listeners_on_loopback_read_as_loopback(listening_tree: tuple[int, int]) -> None:
    parent, port = listening_tree
    found = [each for each in sockets.listeners(parent) if each.port == port]
    assert [each.is_loopback for each in found] == [True]


@pytest.mark.parametrize("listening_tree", ["0.0.0.0"], indirect=True)
def test_an_emulator_listening_beyond_loopback_is_refused(
    listening_tree: tuple[int, int],
) -> None:
    parent, port = listening_tree
    exposed = emulator.EmulatorInstance(pid=parent, port=port, state_dir="")
    with pytest.raises(EmulatorError, match=rf"beyond loopback.*0\.0\.0\.0:{port}"):
        emulator._check_loopback(exposed.processes())


def test_descendants_include_grandchildren_and_not_others(tmp_path: Path) -> None:
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while len(sockets.descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = sockets.descendants(proc.pid)
        assert tree[0] == proc.pid
        assert len(tree) == 2
        assert sockets.descendants(tree[1]) == [tree[1]]
    finally:
        for pid in reversed(sockets.descendants(proc.pid)):
            subprocess.run(["kill", str(pid)], check=False)
        proc.wait(10)


def test_environment_sets_the_emulators_variables_and_restores_what_was_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    instance = emulator.EmulatorInstance(pid=1, port=4599, state_dir="")
    with emulator.environment(instance):
        assert os.environ["AWS_ENDPOINT_URL"] == instance.endpoint
        assert os.environ["AWS_REGION"] == instance.region
    assert os.environ["AWS_REGION"] == "eu-west-1"
    assert "AWS_ENDPOINT_URL" not in os.environ
