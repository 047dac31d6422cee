"""``bus lambda invoke``: the Lambda entry point fed from a queue here, as its event source
mapping would feed it (``bus.aws_lambda.local``), for development without deploying."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.aws import AwsClients
from bus.aws_lambda import LambdaHandler
from bus.aws_lambda.local import LocalOptions, invoke_locally
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.cli.output import out
from bus.logging import configure_logging
from bus.settings import DEFAULT_TOPOLOGY

app = typer.Typer(help="Run Lambda entry points locally.", no_args_is_help=True)

QueueOpt = Annotated[str, typer.Option("--queue", "-q", help="The queue (logical name).")]
BatchOpt = Annotated[
    int, typer.Option("--batch-size", min=1, max=10, help="Records per invocation.")
]
WaitOpt = Annotated[
    int, typer.Option("--wait-seconds", min=0, max=20, help="Long-poll wait of each receive.")
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=1, max=900, help="The function's timeout in seconds."),
]
UntilEmptyOpt = Annotated[
    bool, typer.Option("--until-empty", help="Stop when a receive comes back empty.")
]
BatchesOpt = Annotated[
    int | None, typer.Option("--max-batches", min=1, help="Stop after this many invocations.")
]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]


@app.command()
def invoke(
    queue: QueueOpt,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    batch_size: BatchOpt = 10,
    wait_seconds: WaitOpt = 5,
    timeout: TimeoutOpt = 30.0,
    until_empty: UntilEmptyOpt = False,
    max_batches: BatchesOpt = None,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    log_level: LogLevelOpt = "INFO",
) -> None:
    """Poll QUEUE and call its Lambda entry point (`bus.handler_for`) with each batch, shaped
    as the SQS event source mapping delivers it; delete what it handled, leave what it reports
    failed (as the mapping does with a partial batch response). Ctrl-C stops."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    configure_logging(log_level, json=False)
    handler = LambdaHandler(queue, settings)  # imports the handlers, as the function's init
    options = LocalOptions(batch_size, wait_seconds, timeout, until_empty, max_batches)

    def show(records: int, failed: int) -> None:
        out.print(f"invoked with {records} record(s): {failed} reported failed", markup=False)

    async def run() -> None:
        try:
            async with AwsClients(settings) as aws:
                report = await invoke_locally(
                    aws, handler.handle, queue, settings.env, options, on_batch=show
                )
        finally:
            await handler.aclose()
        out.print(
            f"{report.batches} invocation(s), {report.records} record(s), "
            f"{report.deleted} deleted, {report.failed} reported failed",
            markup=False,
        )

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
