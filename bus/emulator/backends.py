"""The emulator backends bus can start: how each is installed, run and told where to listen.

- ``localstack`` (the reference): LocalStack 4.13.1's Python runtime, run through bus's own
  launcher (``localstack_main.py``) so that it listens on 127.0.0.1 only. It cannot serve
  DynamoDB on the host (its DynamoDB needs DynamoDB Local, a Java download).
- ``ministack``: ministack 1.5.33, pure Python, ``BIND_HOST`` honoured. bus uses it for DynamoDB
  beside LocalStack, or for every service when chosen as the backend (see docs/emulator.md for
  what it lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bus.emulator.venv import LOCALSTACK, MINISTACK, Runtime
from bus.errors import EmulatorError

HOST = "127.0.0.1"
LAUNCHER = Path(__file__).with_name("localstack_main.py")

NOT_ON_LOCALSTACK: frozenset[str] = frozenset({"dynamodb", "dynamodbstreams"})
"""Services LocalStack cannot serve on the host: bus starts ministack beside it for these."""


@dataclass(frozen=True)
class Backend:
    """One kind of emulator process: its cached runtime, how its python runs it (``args``), the
    environment that puts it on a port and a state directory (``settings``), and the marks of its
    command line (checked before a recorded process id is ever signalled)."""

    name: str
    runtime: Runtime
    args: tuple[str, ...]
    settings: Callable[[int, Path], dict[str, str]]
    marks: tuple[bytes, ...]
    gaps: tuple[str, ...] = ()
    """What it is known to do differently from AWS where bus relies on AWS (docs/emulator.md)."""

    def command(self, python: Path) -> list[str]:
        return [str(python), *self.args]

    def environment(
        self, base: dict[str, str], port: int, state_dir: Path, services: Sequence[str]
    ) -> dict[str, str]:
        env = {k: v for k, v in base.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
        env["SERVICES"] = ",".join(services)
        env.update(self.settings(port, state_dir))
        return env

    def owns(self, cmdline: bytes) -> bool:
        """Whether a process's command line is one of this backend's."""
        return any(mark in cmdline for mark in self.marks)


def _localstack_env(port: int, state_dir: Path) -> dict[str, str]:
    return {
        "BUS_BIND_HOST": HOST,  # read by bus's launcher: the twisted server ignores the host below
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
        # With CloudWatch served, SQS reports its own metrics on every call, doubling LocalStack's
        # CPU per message: bus's alarms need the API only, not the data.
        "SQS_DISABLE_CLOUDWATCH_METRICS": "1",
    }


def _ministack_env(port: int, state_dir: Path) -> dict[str, str]:
    return {
        "BIND_HOST": HOST,
        "GATEWAY_PORT": str(port),
        "MINISTACK_HOST": HOST,
        # Its pid file, S3 data and state stay inside this instance's own state dir.
        "TMPDIR": str(state_dir),
        "STATE_DIR": str(state_dir / "state"),
        "S3_DATA_DIR": str(state_dir / "s3"),
        # Listeners beyond the gateway port stay off (the IoT MQTT one binds 8883 by default).
        "IOT_MTLS_ENABLED": "0",
        "SFTP_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
    }


BACKENDS: dict[str, Backend] = {
    "localstack": Backend(
        "localstack",
        LOCALSTACK,
        # -P: the launcher's folder (bus/emulator) must not come first on LocalStack's path.
        args=("-P", str(LAUNCHER)),
        settings=_localstack_env,
        marks=(b"localstack_main.py", b"localstack.runtime.main"),
    ),
    "ministack": Backend(
        "ministack",
        MINISTACK,
        args=("-m", "ministack"),
        settings=_ministack_env,
        marks=(b"ministack",),
        gaps=(
            "no SQS StartMessageMoveTask / ListMessageMoveTasks (bus dlq redrive of a whole queue)",
            "no SQS ListDeadLetterSourceQueues (a DLQ's source queues outside the topology)",
            "accepts invalid SNS filter policies (bus validate still refuses them)",
        ),
    ),
}


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise EmulatorError(
            f"unknown emulator backend {name!r}; choose one of {', '.join(BACKENDS)}"
        ) from None
