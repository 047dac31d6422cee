"""A running emulator (``EmulatorInstance``: its processes, ports, services, and the environment
for AWS clients to use it), and the record ``bus emulator start|stop|status`` keeps of it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus.emulator.backends import HOST

DEFAULT_SERVICES: tuple[str, ...] = (
    "sqs", "sns", "events", "sts", "s3", "cloudwatch", "lambda", "dynamodb",
)  # fmt: skip
"""What ``start()`` serves unless told otherwise. With the ``localstack`` backend, DynamoDB comes
from a ministack process beside it (``AWS_ENDPOINT_URL_DYNAMODB`` in ``env()``)."""
DEFAULT_REGION = "us-east-1"


def _env_suffix(service: str) -> str:
    """botocore's per-service endpoint variable is ``AWS_ENDPOINT_URL_<service id>``."""
    return service.upper().replace("-", "_")


@dataclass
class EmulatorInstance:
    """A running emulator process (``backend`` on ``port``), and the ones started beside it
    (``companions``, e.g. ministack serving DynamoDB beside LocalStack)."""

    pid: int
    port: int
    state_dir: str
    region: str = DEFAULT_REGION
    services: tuple[str, ...] = DEFAULT_SERVICES
    backend: str = "localstack"
    companions: tuple[EmulatorInstance, ...] = ()
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self.state_dir) / f"{self.backend}.log"

    @property
    def all_services(self) -> tuple[str, ...]:
        return self.services + tuple(s for c in self.companions for s in c.services)

    def processes(self) -> tuple[EmulatorInstance, ...]:
        return (self, *self.companions)

    def env(self) -> dict[str, str]:
        """Environment for AWS clients to use this emulator (any credentials work): the main
        endpoint, and ``AWS_ENDPOINT_URL_<SERVICE>`` for each service a companion serves."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
        for companion in self.companions:
            for service in companion.services:
                env[f"AWS_ENDPOINT_URL_{_env_suffix(service)}"] = companion.endpoint
        return env

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "endpoint": self.endpoint,
            "state_dir": self.state_dir,
            "region": self.region,
            "services": list(self.services),
            "backend": self.backend,
            "companions": [c.to_dict() for c in self.companions],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmulatorInstance:
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            state_dir=str(data["state_dir"]),
            region=str(data.get("region", DEFAULT_REGION)),
            services=tuple(data.get("services", DEFAULT_SERVICES)),
            backend=str(data.get("backend", "localstack")),
            companions=tuple(cls.from_dict(c) for c in data.get("companions", [])),
        )

    @classmethod
    def from_json(cls, text: str) -> EmulatorInstance:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an emulator record")
        return cls.from_dict(data)


# -- the record kept by `bus emulator start|stop|status` -----------------------------------------


@contextmanager
def environment(instance: EmulatorInstance) -> Iterator[None]:
    """The emulator's ``env()`` in ``os.environ`` (for this process and the processes it starts)
    while the block runs; the previous values, or their absence, come back afterwards."""
    saved = {k: os.environ.get(k) for k in instance.env()}
    os.environ.update(instance.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def record_path(project_dir: Path | None = None) -> Path:
    return (project_dir or Path.cwd()) / ".bus" / "emulator.json"


def save_record(instance: EmulatorInstance, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(instance.to_json())


def load_record(path: Path) -> EmulatorInstance | None:
    try:
        return EmulatorInstance.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
