"""The peers' virtualenv: Celery, Dramatiq, boto3 and matplotlib, installed once from
``bench/requirements-peers.txt`` into bus's cache directory, keyed by the hash of the pins (as the
emulator's virtualenv is). boto3's botocore pin clashes with aiobotocore's, so the peers never run
in the project's virtualenv: each of their measurements is a subprocess of this one.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bus.emulator import cache_dir

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements-peers.txt"
PACKAGES = ["celery", "kombu", "dramatiq", "dramatiq-sqs", "boto3", "botocore", "matplotlib"]


class PeersUnavailable(Exception):
    """The peers' virtualenv could not be built; the message says why."""


def venv_dir() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"bench-peers-{digest}"


def python() -> Path:
    return venv_dir() / "bin" / "python"


def is_installed() -> bool:
    return (venv_dir() / ".complete").exists()


def _run(step: list[str]) -> None:
    proc = subprocess.run(step, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise PeersUnavailable(f"`{' '.join(step[:4])} ...` failed:\n{tail}")


def ensure(log: Callable[[str], None]) -> Path:
    """The peers' python, installing the virtualenv first if needed (once; about a minute)."""
    target = venv_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / "bench-peers.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return python()
        if target.exists():
            shutil.rmtree(target)
        log(f"installing the peers (Celery, Dramatiq, boto3, matplotlib) into {target} (once)")
        base = getattr(sys, "_base_executable", None) or sys.executable
        _run([base, "-m", "venv", str(target)])
        pip = [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, "-r", str(REQUIREMENTS)])
        (target / ".complete").write_text(REQUIREMENTS.read_text())
    return python()
