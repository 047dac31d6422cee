"""``bus publish``, ``bus schemas export|check`` and ``bus docs``: events from the shell."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.asyncapi import asyncapi_document, render
from bus.aws import AwsClients
from bus.cli.options import (
    EndpointOpt,
    EnvOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TopologyOpt,
    make_settings,
)
from bus.cli.output import err, out
from bus.errors import EventValidationError, SchemaError
from bus.logging import configure_logging
from bus.publish import Publisher, PublishResult, load_registry
from bus.schema import DEFAULT_SNAPSHOT_DIR, check_snapshots, export_schemas
from bus.settings import DEFAULT_TOPOLOGY, Settings

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
        help="Snapshot directory [default: schemas/snapshots beside the topology file].",
    ),
]


def _read_data(event_type: str, data: str | None, file: Path | None) -> Any:
    if (data is None) == (file is None):
        raise typer.BadParameter("give the event's data with exactly one of --data or --file")
    if file is not None:
        where = "stdin" if str(file) == "-" else str(file)
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {where}: {exc.strerror}") from exc
    else:
        where, text = "--data", str(data)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EventValidationError(event_type, f"{event_type}: {where} is not JSON: {exc}") from exc


async def _publish(
    settings: Settings, event_type: str, data: Any, count: int
) -> list[PublishResult]:
    topology, registry = load_registry(settings.topology_path, settings.env)
    event = registry.validate(event_type, data)
    async with AwsClients(settings) as aws:
        publisher = Publisher(aws, registry, topology, settings.env)
        if count == 1:
            return [await publisher.publish(event)]
        return await publisher.publish_many([event] * count, check=True)


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
    as_json: JsonOpt = False,
) -> None:
    """Validate an event and publish it to its declared destinations; print the message ids.

    Invalid data prints the offending fields and exits 3 without sending anything.
    """
    configure_logging("WARNING")
    settings = make_settings(topology, env, endpoint_url, region, profile)
    payload = _read_data(event_type, data, file)
    results = asyncio.run(_publish(settings, event_type, payload, count))
    if as_json:
        rows = [
            {
                "event_id": r.event_id,
                "event_type": r.event_type,
                "deliveries": [
                    {"destination": d.destination, "message_id": d.message_id} for d in r.deliveries
                ],
            }
            for r in results
        ]
        out.print_json(json.dumps(rows))
        return
    for result in results:
        for delivery in result.deliveries:
            out.print(
                f"{result.event_id} {delivery.destination} {delivery.message_id}", markup=False
            )


def _snapshot_dir(settings: Settings, given: Path | None) -> Path:
    return given or settings.topology_path.resolve().parent / DEFAULT_SNAPSHOT_DIR


@schemas_app.command("export")
def export(topology: TopologyOpt = DEFAULT_TOPOLOGY, out_dir: SnapshotOpt = None) -> None:
    """Write one JSON Schema per event version: <dir>/<EventType>.v<N>.json."""
    settings = make_settings(topology)
    _, registry = load_registry(settings.topology_path)
    for path in export_schemas(registry, _snapshot_dir(settings, out_dir)):
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
            "--output", "-o", help="Where to write ('-': stdout) [default: docs/asyncapi.yaml]."
        ),
    ] = None,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
) -> None:
    """Write an AsyncAPI 3.0 document of the topology: channels, operations, messages."""
    settings = make_settings(topology, env)
    topo, registry = load_registry(settings.topology_path, settings.env)
    text = render(asyncapi_document(topo, registry, settings.env))
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
        return
    path = output or settings.topology_path.resolve().parent / "docs" / "asyncapi.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    out.print(f"wrote {path}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``publish``, ``schemas`` and ``docs`` to the ``bus`` command."""
    app.command()(publish)
    app.add_typer(schemas_app, name="schemas")
    app.command()(docs)
