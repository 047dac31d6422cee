"""The ``bus`` pytest plugin loads in an environment without pytest-asyncio (what a plain
``pip install bus-framework`` next to pytest gives): pytest starts, the sync fixtures work, and the
async ``aws`` fixture says what to install."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from bus.testing import NEEDS_ASYNCIO

LEFT_OUT = ("pytest_asyncio",)

USERS_TESTS = """
def test_plugin_loaded_and_sync_fixtures_work(bus_env, pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("bus")
    assert bus_env.startswith("t") and len(bus_env) == 9


def test_async_fixture_says_what_is_missing(aws):
    raise AssertionError("never reached: the fixture fails first")
"""


def _venv_without(tmp_path: Path, left_out: tuple[str, ...]) -> Path:
    """A fresh virtualenv holding what this one holds (bus installed as here, pytest and bus's
    dependencies) less the distributions named ``left_out``; no network, no build."""
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
    here = Path(sysconfig.get_paths()["purelib"])
    there = Path(
        sysconfig.get_paths(vars={"base": str(target), "platbase": str(target)})["purelib"]
    )
    for entry in here.iterdir():
        if entry.name.lower().replace("-", "_").startswith(left_out):
            continue
        (there / entry.name).symlink_to(entry)
    return target / "bin" / "python"


def test_pytest_starts_and_runs_without_pytest_asyncio(tmp_path: Path) -> None:
    python = _venv_without(tmp_path, LEFT_OUT)
    missing = subprocess.run([python, "-c", "import pytest_asyncio"], capture_output=True)
    assert missing.returncode != 0, "pytest_asyncio must be absent from the test's virtualenv"

    project = tmp_path / "users-project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "test_users.py").write_text(USERS_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    ran = subprocess.run(
        [python, "-m", "pytest", "-q", "-rE"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    output = ran.stdout + ran.stderr
    assert "Error while loading" not in output, output
    assert "1 passed, 1 error" in output, output
    assert NEEDS_ASYNCIO in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="symlinked virtualenvs")
def test_the_virtualenv_without_it_is_really_without_it(tmp_path: Path) -> None:
    # The control: the same build with nothing left out does import pytest_asyncio, so the
    # test above proves the absence of the plugin it leaves out, not a broken environment.
    python = _venv_without(tmp_path, ())
    found = subprocess.run([python, "-c", "import pytest_asyncio, bus.testing"], check=False)
    assert found.returncode == 0
