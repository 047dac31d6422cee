"""Options shared by the commands, defined once. Every AWS-facing command takes the standard AWS
configuration (environment, profiles) plus ``--endpoint-url``/``--region``/``--profile``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bus.settings import Settings

TopologyOpt = Annotated[
    Path,
    typer.Option("--topology", "-t", envvar="BUS_TOPOLOGY", help="The topology file."),
]
EnvOpt = Annotated[
    str | None,
    typer.Option(
        "--env", "-e", envvar="BUS_ENV", help="Environment prefix: --env dev -> dev-orders."
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="AWS endpoint, e.g. an emulator's (default: AWS_ENDPOINT_URL, unless "
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true).",
    ),
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: AWS_REGION / profile).")
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConnectTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--connect-timeout",
        min=0.1,
        envvar="BUS_CONNECT_TIMEOUT",
        help="Seconds to wait for a connection to AWS, per attempt.",
    ),
]
ReadTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--read-timeout",
        min=0.1,
        envvar="BUS_READ_TIMEOUT",
        help="Seconds to wait for AWS's answer, per attempt.",
    ),
]
MaxAttemptsOpt = Annotated[
    int,
    typer.Option(
        "--max-attempts",
        min=1,
        max=20,
        envvar="BUS_MAX_ATTEMPTS",
        help="Attempts per AWS call, the first included.",
    ),
]


def make_settings(
    topology: Path | None = None,
    env: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    *,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_attempts: int | None = None,
) -> Settings:
    return Settings.from_env(
        topology_path=topology,
        env=env,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
    )
