"""A throwaway PostgreSQL server for tests: ``postgres_server`` (session) and ``postgres_url``.

The server runs from PostgreSQL's own binaries (``initdb``, ``pg_ctl``), found through
``pg_config --bindir``, then ``initdb`` on ``PATH``, then the standard install paths; it has a
temporary data directory and listens only on a Unix socket in that directory (no TCP port), with
durability switched off (``fsync=off``: it is thrown away). It is stopped (``pg_ctl stop -m fast``)
and removed at the end of the session. ``initdb`` refuses to run as root: as root, the server runs
as the ``postgres`` user, which then owns the directory. Without the binaries the tests that need
the server are skipped with a message saying what to install.

``postgres_url`` is a fresh, empty database for one test (``postgresql+psycopg://...``). Import
both fixtures into a ``conftest.py``::

    from tests.pg import postgres_server, postgres_url  # noqa: F401
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SEARCH = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/usr/local/pgsql/bin",  # built from source
    "/opt/homebrew/opt/postgresql@*/bin",  # macOS Homebrew
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (Debian/Ubuntu: "
    "apt-get install postgresql; macOS: brew install postgresql@15) or put pg_config on PATH"
)
USER = "postgres"


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, or ``None``."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        answer = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(answer.stdout.strip())
        if answer.returncode == 0 and (bindir / "initdb").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    for pattern in SEARCH:
        found = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        for candidate in found:
            if (Path(candidate) / "initdb").exists():
                return Path(candidate)
    return None


def _version_key(path: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in path).split()
    return tuple(int(d) for d in digits)


@dataclass(frozen=True)
class PostgresServer:
    bindir: Path
    directory: Path
    """Holds ``data/``, the socket and ``server.log``."""
    user: str = USER
    port: int = 5432
    """Names the socket file (``.s.PGSQL.<port>``); nothing listens on TCP."""

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        return (
            f"postgresql+{driver}://{self.user}@/{database}?host={self.directory}&port={self.port}"
        )


def _as_owner(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (``initdb`` refuses root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", USER, "--", *command]
    return ["su", USER, "-s", "/bin/sh", "-c", " ".join(command)]


def _run(command: list[str], what: str) -> None:
    answer = subprocess.run(_as_owner(command), capture_output=True, text=True, timeout=120)
    if answer.returncode != 0:
        raise RuntimeError(f"{what} failed ({answer.returncode}): {answer.stderr or answer.stdout}")


def start(bindir: Path) -> PostgresServer:
    """Create a cluster in a new temporary directory and start it (waits until it accepts)."""
    directory = Path(tempfile.mkdtemp(prefix="bus-pg-"))
    directory.chmod(0o755)
    if os.geteuid() == 0:
        try:
            shutil.chown(directory, USER, USER)
        except LookupError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(
                f"running as root, and there is no {USER!r} user to run PostgreSQL as "
                "(initdb refuses root): create it (useradd postgres) or run the tests as another user"
            ) from exc
    server = PostgresServer(bindir, directory, user=USER if os.geteuid() == 0 else _me())
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.data),
                "-U",
                server.user,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            "initdb",
        )
        resume(server)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return server


def resume(server: PostgresServer) -> None:
    """Start the server's postmaster on its cluster (waits until it accepts connections)."""
    options = (
        f"-c listen_addresses='' -c unix_socket_directories={server.directory} "
        f"-c port={server.port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=60"
    )
    _run(
        [
            str(server.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(server.data),
            "-l",
            str(server.directory / "server.log"),
            "-o",
            options,
        ],
        "pg_ctl start",
    )


def halt(server: PostgresServer) -> None:
    """Stop the postmaster (fast shutdown: open connections are cut), keeping the cluster."""
    _run([str(server.bindir / "pg_ctl"), "stop", "-m", "fast", "-D", str(server.data)], "stop")


def stop(server: PostgresServer) -> None:
    """Stop the server (fast shutdown) and remove its directory."""
    try:
        halt(server)
    finally:
        shutil.rmtree(server.directory, ignore_errors=True)


def _me() -> str:
    import getpass

    return getpass.getuser()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(INSTALL_HINT)
    server = start(bindir)
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new empty database on the session's server, dropped after the test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    admin = postgres_server.url(driver="psycopg").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
