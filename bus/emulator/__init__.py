"""The embedded AWS emulator: LocalStack's own Python runtime on the host, no Docker.

LocalStack is installed once into a virtualenv of its own (it pins a botocore that clashes with
aiobotocore's), cached under ``$BUS_CACHE_DIR`` (default ``~/.cache/bus``) and keyed by the hash of
the pins in ``localstack-requirements.txt``. Each ``start()`` gets its own port and its own state
directory on 127.0.0.1, so two test sessions never share anything; ``stop()`` ends that process id
only.

Python API::

    instance = start()              # installs on first use, waits for /_localstack/health
    os.environ.update(instance.env())
    ...
    stop(instance)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bus.errors import EmulatorError

DEFAULT_SERVICES: tuple[str, ...] = ("sqs", "sns", "events", "sts", "cloudwatch")
DEFAULT_REGION = "us-east-1"
HOST = "127.0.0.1"
_READY_STATES = {"available", "running"}

Log = Callable[[str], None]


def _silent(_: str) -> None:
    return None


def requirements_text() -> str:
    """The pinned requirements of the emulator's virtualenv (the project's own copy)."""
    return (resources.files("bus.emulator") / "localstack-requirements.txt").read_text()


def cache_dir() -> Path:
    """Where bus caches the emulator's virtualenv: ``$BUS_CACHE_DIR`` or ``$XDG_CACHE_HOME/bus``."""
    if os.environ.get("BUS_CACHE_DIR"):
        return Path(os.environ["BUS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bus"


def venv_dir() -> Path:
    digest = hashlib.sha256(requirements_text().encode()).hexdigest()[:12]
    return cache_dir() / f"localstack-{digest}"


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def is_installed() -> bool:
    return (venv_dir() / ".complete").exists()


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
    """A Python 3.11 to build the emulator's virtualenv from (the one running bus)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def install(log: Log = _silent) -> Path:
    """Install LocalStack into its cached virtualenv once; return that virtualenv's python.

    Safe to call from several processes at once: a file lock serialises them and a marker file
    says the install finished (a half-done install is removed and done again).
    """
    target = venv_dir()
    with _file_lock(cache_dir() / "install.lock"):
        if (target / ".complete").exists():
            return venv_python()
        if target.exists():
            shutil.rmtree(target)
        log(f"installing LocalStack into {target} (once; about a minute)")
        reqs = target.parent / f"{target.name}.requirements.txt"
        reqs.parent.mkdir(parents=True, exist_ok=True)
        reqs.write_text(requirements_text())
        steps: Sequence[Sequence[str]] = (
            (_base_python(), "-m", "venv", str(target)),
            (str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", str(reqs)),
            (str(target / "bin" / "python"), "-c", "import localstack.runtime.main"),
        )  # fmt: skip
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout)[-3000:]
                raise EmulatorError(
                    f"installing LocalStack failed at `{' '.join(step[:4])} ...`:\n{tail}"
                )
        (target / ".complete").write_text(requirements_text())
        log("LocalStack installed")
    return venv_python()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((HOST, port)) == 0


@dataclass
class EmulatorInstance:
    """A running LocalStack: its process id, endpoint and state directory."""

    pid: int
    port: int
    state_dir: str
    region: str = DEFAULT_REGION
    services: tuple[str, ...] = DEFAULT_SERVICES
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self.state_dir) / "localstack.log"

    def env(self) -> dict[str, str]:
        """Environment for AWS clients to use this emulator (any credentials work)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    def to_json(self) -> str:
        data = {
            "pid": self.pid,
            "port": self.port,
            "endpoint": self.endpoint,
            "state_dir": self.state_dir,
            "region": self.region,
            "services": list(self.services),
        }
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> EmulatorInstance:
        data = json.loads(text)
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            state_dir=str(data["state_dir"]),
            region=str(data.get("region", DEFAULT_REGION)),
            services=tuple(data.get("services", DEFAULT_SERVICES)),
        )


def health(endpoint: str, timeout: float = 2.0) -> dict[str, object] | None:
    """LocalStack's ``/_localstack/health`` answer, or ``None`` when nothing answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as resp:
            data = json.loads(resp.read().decode())
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ready(endpoint: str, services: Sequence[str]) -> bool:
    data = health(endpoint)
    if data is None:
        return False
    states = data.get("services")
    if not isinstance(states, dict):
        return False
    return all(states.get(name) in _READY_STATES for name in services)


def _runtime_env(port: int, state_dir: Path, services: Sequence[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
    env.update(
        {
            "SERVICES": ",".join(services),
            "GATEWAY_LISTEN": f"{HOST}:{port}",
            "LOCALSTACK_HOST": f"{HOST}:{port}",
            "DNS_ADDRESS": "0",
            # Host mode, with every directory inside this instance's own state dir.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(state_dir / "fs"),
            "CONFIG_DIR": str(state_dir / "config"),
            "SQS_ENDPOINT_STRATEGY": "path",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "EAGER_SERVICE_LOADING": "1",
            "SQS_DISABLE_CLOUDWATCH_METRICS": "1",  # with cloudwatch on, SQS's own metrics doubled LocalStack's CPU per message
        }
    )
    return env


def start(
    *,
    port: int | None = None,
    state_dir: Path | None = None,
    services: Sequence[str] = DEFAULT_SERVICES,
    timeout: float = 90.0,
    detach: bool = False,
    log: Log = _silent,
) -> EmulatorInstance:
    """Install (once) and start LocalStack on 127.0.0.1; return when it answers healthy.

    ``port`` defaults to a free one, ``state_dir`` to a new temporary directory. With ``detach``
    the process outlives this one (for ``bus emulator start``).
    """
    python = install(log)
    port = port or free_port()
    if _port_in_use(port):
        raise EmulatorError(f"port {port} on {HOST} is already in use; pick another with --port")
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="bus-localstack-"))
    for sub in ("fs", "config"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    logfile = (state / "localstack.log").open("ab")
    try:
        proc = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=_runtime_env(port, state, services),
            cwd=state,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    finally:
        logfile.close()
    instance = EmulatorInstance(
        pid=proc.pid, port=port, state_dir=str(state), services=tuple(services), _process=proc
    )
    log(f"starting LocalStack (pid {proc.pid}) on {instance.endpoint}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmulatorError(
                f"LocalStack exited with code {proc.returncode} while starting; "
                f"log {instance.log_path}:\n{_tail(instance.log_path)}"
            )
        if _ready(instance.endpoint, services):
            return instance
        time.sleep(0.2)
    stop(instance)
    raise EmulatorError(
        f"LocalStack did not become healthy within {timeout:.0f}s; "
        f"log {instance.log_path}:\n{_tail(instance.log_path)}"
    )


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def _is_localstack(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"localstack.runtime.main" in cmdline


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _is_localstack(pid)


def is_running(instance: EmulatorInstance) -> bool:
    if instance._process is not None:
        return instance._process.poll() is None
    return _alive(instance.pid)


def stop(instance: EmulatorInstance, timeout: float = 20.0) -> bool:
    """SIGTERM that LocalStack process (only it), wait, SIGKILL if it lingers.

    Returns ``False`` when the process was already gone. A process id that now belongs to something
    other than LocalStack is never signalled.
    """
    proc = instance._process
    if proc is not None:
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        return True
    if not _alive(instance.pid):
        return False
    os.kill(instance.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(instance.pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(instance.pid, signal.SIGKILL)
    return True


# -- the record kept by `bus emulator start|stop|status` -----------------------------------------


def record_path(project_dir: Path | None = None) -> Path:
    return (project_dir or Path.cwd()) / ".bus" / "emulator.json"


def save_record(instance: EmulatorInstance, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(instance.to_json())


def load_record(path: Path) -> EmulatorInstance | None:
    try:
        return EmulatorInstance.from_json(path.read_text())
    except (OSError, ValueError, KeyError):
        return None
