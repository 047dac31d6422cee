"""Cached virtualenvs for the emulator backends: one per pinned requirements file, installed once.

Each backend pins a botocore that clashes with aiobotocore's, so each gets its own virtualenv,
cached under ``$BUS_CACHE_DIR`` (default ``~/.cache/bus``) and keyed by the hash of its pins (the
requirements file shipped in this package). A file lock serialises concurrent installs; a marker
file says an install finished (a half-done one is removed and done again).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bus.errors import EmulatorError

Log = Callable[[str], None]


def _silent(_: str) -> None:
    return None


def cache_dir() -> Path:
    """Where bus caches the emulators' virtualenvs: ``$BUS_CACHE_DIR`` or ``$XDG_CACHE_HOME/bus``."""
    if os.environ.get("BUS_CACHE_DIR"):
        return Path(os.environ["BUS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bus"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _base_python() -> str:
    """The Python to build a virtualenv from (the one running bus)."""
    return getattr(sys, "_base_executable", None) or sys.executable


@dataclass(frozen=True)
class Runtime:
    """A cached virtualenv: ``name``, the requirements file shipped here, a module proving it works."""

    name: str
    requirements: str
    probe: str
    about: str = "about a minute"

    def requirements_text(self) -> str:
        return (resources.files("bus.emulator") / self.requirements).read_text()

    @property
    def directory(self) -> Path:
        digest = hashlib.sha256(self.requirements_text().encode()).hexdigest()[:12]
        return cache_dir() / f"{self.name}-{digest}"

    @property
    def python(self) -> Path:
        return self.directory / "bin" / "python"

    def is_installed(self) -> bool:
        return (self.directory / ".complete").exists()

    def install(self, log: Log = _silent) -> Path:
        """Install into the cached virtualenv once (``pip install -r``, ONE call); its python."""
        target = self.directory
        with _file_lock(cache_dir() / "install.lock"):
            if (target / ".complete").exists():
                return self.python
            if target.exists():
                shutil.rmtree(target)
            log(f"installing {self.name} into {target} (once; {self.about})")
            reqs = target.parent / f"{target.name}.requirements.txt"
            reqs.parent.mkdir(parents=True, exist_ok=True)
            reqs.write_text(self.requirements_text())
            python = str(target / "bin" / "python")
            steps: Sequence[Sequence[str]] = (
                (_base_python(), "-m", "venv", str(target)),
                (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "-r", str(reqs)),
                (python, "-c", f"import {self.probe}"),
            )  # fmt: skip
            for step in steps:
                proc = subprocess.run(step, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    tail = (proc.stderr or proc.stdout)[-3000:]
                    raise EmulatorError(
                        f"installing {self.name} failed at `{' '.join(step[:4])} ...`:\n{tail}"
                    )
            (target / ".complete").write_text(self.requirements_text())
            log(f"{self.name} installed")
        return self.python


LOCALSTACK = Runtime("localstack", "localstack-requirements.txt", "localstack.runtime.main")
MINISTACK = Runtime("ministack", "ministack-requirements.txt", "ministack.app", "under a minute")
