"""``bus publish``, ``bus schemas export|check`` and ``bus docs``: events from the shell."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.asyncapi import asyncapi_document, render, rule_lines
from bus.aws import AwsClients
from bus.cli.options import (
    ConnectTimeoutOpt,
    EndpointOpt,
    EnvOpt,
    JsonOpt,
    MaxAttemptsOpt,
    ProfileOpt,
    ReadTimeoutOpt,
    RegionOpt,
    TopologyOpt,
    make_settings,
)
from bus.cli.output import err, out
from bus.errors import AwsError, EventValidationError, PublishError, SchemaError
from bus.logging import configure_logging
from bus.publish import Publisher, PublishResult, load_registry
from bus.publish.results import failure_error
from bus.schema import DEFAULT_SNAPSHOT_DIR, check_snapshots, export_envelopes, export_schemas
from bus.settings import (
    CLI_CONNECT_TIMEOUT,
    CLI_MAX_ATTEMPTS,
    CLI_READ_TIMEOUT,
    DEFAULT_TOPOLOGY,
    Settings,
)

schemas_app = typer.Typer(
    help="Event schemas: export JSON Schemas, check compatibility with the snapshot.",
    no_args_is_help=True,
)

DataOpt = Annotated[
    str | None, typer.Option("--data", "-d", help="The event's data as JSON.", show_default=False)
]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="A JSON file with the event's data ('-': stdin)."),
]
CountOpt = Annotated[
    int, typer.Option("--count", "-n", min=1, max=100_000, help="Publish N copies (new ids).")
]
SnapshotOpt = Annotated[
    Path | None,
    typer.Option(
        "--snapshots",
        "--out",
        help="Snapshot directory.",
        show_default="schemas/snapshots beside the topology file",
    ),
]


def _read_data(event_type: str, data: str | None, file: Path | None) -> Any:
    if (data is None) == (file is None):
        raise typer.BadParameter("give the event's data with exactly one of --data or --file")
    if file is not None:
        where = "stdin" if str(file) == "-" else str(file)
        try:  # a file's bytes: json.loads decodes them as RFC 8259 says, or says why not
            text: str | bytes = sys.stdin.read() if str(file) == "-" else file.read_bytes()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {where}: {exc.strerror}") from exc
        except ValueError as exc:  # stdin that does not decode
            raise EventValidationError(
                event_type, f"{event_type}: {where} is not text: {exc}"
            ) from exc
    else:
        where, text = "--data", str(data)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EventValidationError(event_type, f"{event_type}: {where} is not JSON: {exc}") from exc


VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log each failed or refused event too (stderr).")
]


async def _publish(
    settings: Settings, event_type: str, data: Any, count: int
) -> list[PublishResult]:
    topology, registry = load_registry(settings.topology_path, settings.env)
    event = registry.validate(event_type, data)
    async with AwsClients(settings) as aws:
        publisher = Publisher(aws, registry, topology, settings.env)
        return await publisher.publish_many([event] * count)


def _report_failures(results: list[PublishResult]) -> None:
    """Print each failed delivery (stderr), then raise one error for the command (if any failed).

    Refused events (the copies are alike: too large for a destination, say) raise the first one's
    own error (exit 3); failed deliveries a one-line ``PublishError`` (exit 4).
    """
    failed = [r for r in results if not r.ok]
    refused = [r.error for r in failed if r.error is not None]
    if len(refused) == len(failed):
        if refused:
            raise refused[0]
        return
    for result in failed:
        if result.error is not None:
            err.print(f"#{result.index} not sent: {result.error}", markup=False)
        for d in result.failures:
            err.print(
                f"{result.event_id} {d.destination} failed: {d.error_code}: {d.error}",
                markup=False,
            )
    error = failure_error(results)
    code = error.code if isinstance(error, AwsError) else "Unknown"
    count = len(results)
    delivered = sum(len(r.message_ids) for r in results)
    raise PublishError(
        f"{len(failed)} of {count} event{'s' if count != 1 else ''} not fully published "
        f"({delivered} deliveries succeeded); first AWS error code: {code}",
        failures={r.index: r.describe() for r in failed},
        code=code,
    )


def publish(
    event_type: Annotated[str, typer.Argument(help="The event type, as topology.yaml names it.")],
    data: DataOpt = None,
    file: FileOpt = None,
    count: CountOpt = 1,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    connect_timeout: ConnectTimeoutOpt = CLI_CONNECT_TIMEOUT,
    read_timeout: ReadTimeoutOpt = CLI_READ_TIMEOUT,
    max_attempts: MaxAttemptsOpt = CLI_MAX_ATTEMPTS,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Validate an event and publish it to its declared destinations; print the message ids.

    Prints `event-id destination message-id` for every delivery that succeeded, then (stderr) each
    failure and one error line: exit 4 when AWS refused or failed some, 3 for invalid data (nothing
    is sent then). An endpoint that never answers fails each call after --max-attempts attempts of
    --read-timeout seconds (under 10 s a call with the defaults).
    """
    configure_logging("INFO" if verbose else "ERROR")
    settings = make_settings(
        topology,
        env,
        endpoint_url,
        region,
        profile,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
    )
    payload = _read_data(event_type, data, file)
    results = asyncio.run(_publish(settings, event_type, payload, count))
    if as_json:
        rows = [
            {
                "event_id": r.event_id,
                "event_type": r.event_type,
                "deliveries": [
                    {
                        "destination": d.destination,
                        "message_id": d.message_id,
                        **({"error_code": d.error_code, "error": d.error} if not d.ok else {}),
                    }
                    for d in r.deliveries
                ],
                **({"error": str(r.error)} if r.error is not None else {}),
            }
            for r in results
        ]
        out.print_json(json.dumps(rows))
    else:
        for result in results:
            for delivery in result.deliveries:
                if delivery.ok:
                    out.print(
                        f"{result.event_id} {delivery.destination} {delivery.message_id}",
                        markup=False,
                    )
    _report_failures(results)


def _snapshot_dir(settings: Settings, given: Path | None) -> Path:
    return given or settings.topology_path.resolve().parent / DEFAULT_SNAPSHOT_DIR


@schemas_app.command("export")
def export(topology: TopologyOpt = DEFAULT_TOPOLOGY, out_dir: SnapshotOpt = None) -> None:
    """Write one JSON Schema per event version: <dir>/<EventType>.v<N>.json (its data, the
    snapshot `bus schemas check` compares) and <dir>/envelopes/<EventType>.v<N>.json (the whole
    envelope as it travels, for producers to validate against before sending)."""
    settings = make_settings(topology)
    _, registry = load_registry(settings.topology_path)
    directory = _snapshot_dir(settings, out_dir)
    for path in [*export_schemas(registry, directory), *export_envelopes(registry, directory)]:
        out.print(str(path), markup=False)


@schemas_app.command("check")
def check(topology: TopologyOpt = DEFAULT_TOPOLOGY, snapshots: SnapshotOpt = None) -> None:
    """Compare the models with the committed snapshot; exit 3 on a breaking change.

    Breaking: a required field added or removed, a field renamed, a type changed or narrowed, an
    enum value removed, a constraint tightened, a version removed. Additive changes pass.
    """
    settings = make_settings(topology)
    _, registry = load_registry(settings.topology_path)
    directory = _snapshot_dir(settings, snapshots)
    changes = check_snapshots(registry, directory)
    for change in changes:
        (err if change.breaking else out).print(str(change), markup=False)
    broken = [c for c in changes if c.breaking]
    if broken:
        raise SchemaError(
            f"{len(broken)} breaking change{'s' if len(broken) != 1 else ''} against {directory}; "
            "publish such changes as a new event version with an upcaster"
        )
    versions = sum(len(spec.versions) for spec in registry)
    out.print(f"{versions} event versions compatible with {directory}", markup=False)


def docs(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write ('-': stdout).",
            show_default="docs/asyncapi.yaml",
        ),
    ] = None,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region", help="Default of the servers' region variable.", show_default="us-east-1"
        ),
    ] = None,
) -> None:
    """Write an AsyncAPI 3.1 document of the topology: servers, channels with their SNS/SQS
    bindings, EventBridge rules, operations, messages; print the event shape each rule expects."""
    settings = make_settings(topology, env)
    topo, registry = load_registry(settings.topology_path, settings.env)
    text = render(asyncapi_document(topo, registry, settings.env, region))
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
        return
    path = output or settings.topology_path.resolve().parent / "docs" / "asyncapi.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    out.print(f"wrote {path}", markup=False)
    for line in rule_lines(topo, registry):
        out.print(line, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``publish``, ``schemas`` and ``docs`` to the ``bus`` command."""
    app.command()(publish)
    app.add_typer(schemas_app, name="schemas")
    app.command()(docs)
