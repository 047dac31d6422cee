"""The embedded AWS emulator: LocalStack's own Python runtime on the host (no Docker), with
ministack beside it for DynamoDB; every process it starts listens on 127.0.0.1 only.

Each backend is installed once into a virtualenv of its own (each pins a botocore that clashes with
aiobotocore's), cached under ``$BUS_CACHE_DIR`` (default ``~/.cache/bus``) and keyed by the hash of
the pins shipped in this package (``localstack-requirements.txt``, ``ministack-requirements.txt``).
Each ``start()`` gets its own ports and its own state directory, so two test sessions never share
anything. ``start()`` reads what every process it started actually listens on (``/proc``) and
stops them all if anything is not loopback. ``stop()`` ends those process ids only.

Python API::

    instance = start()                          # installs on first use, waits until healthy
    instance = start(services=("sqs", "sns", "events", "sts"))   # LocalStack alone
    instance = start(backend="ministack")       # ministack for every service
    with environment(instance):               # its endpoint in os.environ meanwhile
        ...
    stop(instance)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bus.emulator import sockets
from bus.emulator.backends import BACKENDS, HOST, NOT_ON_LOCALSTACK, Backend
from bus.emulator.backends import backend as find_backend
from bus.emulator.instance import (
    DEFAULT_REGION,
    DEFAULT_SERVICES,
    EmulatorInstance,
    environment,
    load_record,
    record_path,
    save_record,
)
from bus.emulator.venv import LOCALSTACK, Log, _silent, cache_dir
from bus.errors import EmulatorError

__all__ = [
    "BACKENDS",
    "DEFAULT_REGION",
    "DEFAULT_SERVICES",
    "HOST",
    "EmulatorInstance",
    "cache_dir",
    "environment",
    "free_port",
    "health",
    "install",
    "is_installed",
    "is_running",
    "load_record",
    "record_path",
    "requirements_text",
    "save_record",
    "start",
    "stop",
]

_READY_STATES = {"available", "running"}
_HEALTH_NAMES = {"cloudwatch": ("cloudwatch", "monitoring")}
"""A service's names in the health answer: ministack reports CloudWatch as ``monitoring``."""


def requirements_text() -> str:
    """The pinned requirements of LocalStack's virtualenv (the project's own copy)."""
    return LOCALSTACK.requirements_text()


def venv_python() -> Path:
    return LOCALSTACK.python


def is_installed() -> bool:
    return LOCALSTACK.is_installed()


def install(log: Log = _silent) -> Path:
    """Install LocalStack into its cached virtualenv once; return that virtualenv's python."""
    return LOCALSTACK.install(log)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((HOST, port)) == 0


def health(endpoint: str, timeout: float = 2.0) -> dict[str, object] | None:
    """The emulator's ``/_localstack/health`` answer (ministack answers it too), or ``None``."""
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
    return all(
        any(states.get(alias) in _READY_STATES for alias in _HEALTH_NAMES.get(name, (name,)))
        for name in services
    )


def _split(kind: Backend, services: Sequence[str]) -> list[tuple[Backend, tuple[str, ...]]]:
    """Which process serves which services: LocalStack hands what it cannot serve to ministack."""
    if kind.name != "localstack":
        return [(kind, tuple(services))]
    own = tuple(s for s in services if s not in NOT_ON_LOCALSTACK)
    rest = tuple(s for s in services if s in NOT_ON_LOCALSTACK)
    if not own:
        return [(BACKENDS["ministack"], rest)]
    return [(kind, own), (BACKENDS["ministack"], rest)] if rest else [(kind, own)]


def _launch(
    kind: Backend, services: tuple[str, ...], port: int, state: Path, detach: bool, log: Log
) -> EmulatorInstance:
    python = kind.runtime.install(log)
    if _port_in_use(port):
        raise EmulatorError(f"port {port} on {HOST} is already in use; pick another with --port")
    state.mkdir(parents=True, exist_ok=True)
    for sub in ("fs", "config"):
        (state / sub).mkdir(exist_ok=True)
    instance = EmulatorInstance(
        pid=0, port=port, state_dir=str(state), services=services, backend=kind.name
    )
    with instance.log_path.open("ab") as logfile:
        proc = subprocess.Popen(
            kind.command(python),
            env=kind.environment(dict(os.environ), port, state, services),
            cwd=state,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    instance.pid, instance._process = proc.pid, proc
    log(f"starting {kind.name} (pid {proc.pid}) on {instance.endpoint} for {','.join(services)}")
    return instance


def start(
    *,
    port: int | None = None,
    state_dir: Path | None = None,
    services: Sequence[str] = DEFAULT_SERVICES,
    backend: str = "localstack",
    timeout: float = 180.0,
    detach: bool = False,
    log: Log = _silent,
) -> EmulatorInstance:
    """Install (once) and start the emulator on 127.0.0.1; return when every process answers
    healthy and listens on loopback only.

    ``backend`` is ``localstack`` (the reference; DynamoDB, if asked for, goes to a ministack
    beside it) or ``ministack`` (one process for everything). ``port`` (the main endpoint's)
    defaults to a free one, ``state_dir`` to a new temporary directory. With ``detach`` the
    processes outlive this one (for ``bus emulator start``).
    """
    plan = _split(find_backend(backend), services)
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="bus-emulator-"))
    launched: list[EmulatorInstance] = []
    try:
        for n, (kind, served) in enumerate(plan):
            where = state if n == 0 else state / kind.name
            launched.append(
                _launch(kind, served, (port if n == 0 else None) or free_port(), where, detach, log)
            )
        main = launched[0]
        main.companions = tuple(launched[1:])
        _wait_healthy(main.processes(), timeout)
        _check_loopback(main.processes())
    except BaseException:
        for each in launched:
            stop(each)
        raise
    return main


def _wait_healthy(processes: Sequence[EmulatorInstance], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(processes)
    while waiting:
        for each in list(waiting):
            proc = each._process
            if proc is not None and proc.poll() is not None:
                raise EmulatorError(
                    f"{each.backend} exited with code {proc.returncode} while starting; "
                    f"log {each.log_path}:\n{_tail(each.log_path)}"
                )
            if _ready(each.endpoint, each.services):
                waiting.remove(each)
        if not waiting:
            return
        if time.monotonic() > deadline:
            slow = waiting[0]
            raise EmulatorError(
                f"{slow.backend} did not become healthy within {timeout:.0f}s; "
                f"log {slow.log_path}:\n{_tail(slow.log_path)}"
            )
        time.sleep(0.1)


def _check_loopback(processes: Sequence[EmulatorInstance]) -> None:
    """Refuse an emulator that listens anywhere but loopback (read from /proc, where there is one)."""
    if not sockets.available():
        return
    exposed = [
        f"{each.backend} pid {found.pid} on {found.host}:{found.port}"
        for each in processes
        for found in sockets.listeners(each.pid)
        if not found.is_loopback
    ]
    if exposed:
        raise EmulatorError(
            "the emulator listens beyond loopback, so it was stopped: " + "; ".join(exposed)
        )


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def _is_emulator(pid: int, kind: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return BACKENDS[kind].owns(cmdline) if kind in BACKENDS else False


def _alive(pid: int, kind: str = "localstack") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _is_emulator(pid, kind)


def _running(process: EmulatorInstance) -> bool:
    if process._process is not None:
        return process._process.poll() is None
    return _alive(process.pid, process.backend)


def is_running(instance: EmulatorInstance) -> bool:
    """Whether the emulator's processes (the main one and its companions) are all running."""
    return all(_running(each) for each in instance.processes())


def stop(instance: EmulatorInstance, timeout: float = 20.0) -> bool:
    """SIGTERM each of the emulator's processes (only those), wait, SIGKILL any that lingers.

    Returns ``False`` when the main process was already gone. A process id that now belongs to
    something other than that emulator is never signalled.
    """
    for companion in instance.companions:
        _stop_one(companion, timeout)
    return _stop_one(instance, timeout)


def _stop_one(process: EmulatorInstance, timeout: float) -> bool:
    proc = process._process
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
    if not _alive(process.pid, process.backend):
        return False
    os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(process.pid, process.backend):
            return True
        time.sleep(0.1)
    if _alive(process.pid, process.backend):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    return True
