"""`lead infra`: start, stop or show the local Kafka and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.entrypoints.cli.shared import AsJson, print_json, refused, settings

if TYPE_CHECKING:
    from infra.settings import Settings

app = typer.Typer(
    name="infra",
    help="Start, stop or show the local Kafka and PostgreSQL.",
    no_args_is_help=True,
)

Brokers = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        min=1,
        max=5,
        metavar="N",
        help="Local Kafka nodes (1-5; sets LEAD_KAFKA_BROKERS for this call); 3 or more "
        "replicate topics 3 ways with min.insync.replicas 2.",
    ),
]


def _settings(brokers: int | None, *, quick: bool = False) -> Settings:
    """Starting a stack takes its time: no quick connect timeout but for `status`."""
    if brokers is None:
        return settings(quick=quick)
    return settings(quick=quick, kafka_brokers=brokers)


def _topics(found: Settings) -> dict[str, Any]:
    """The topics and their partitions, or why they are unknown (Kafka down)."""
    from infra.local.cluster import LocalKafkaCluster

    kafka_up = not found.local_kafka or any(
        node.running() for node in LocalKafkaCluster.as_formatted(found).nodes
    )
    if not kafka_up:
        return {}
    from infra.kafka.admin import describe_topics

    try:
        return {"topics": dict(sorted(describe_topics(found).items()))}
    except Exception as exc:  # status must still print when Kafka is unreachable
        return {"topics_unknown": " ".join(str(exc).split())}


def _report(found: Settings, as_json: bool, *, topics: bool = True) -> None:
    from infra.local import stack

    shown = _topics(found) if topics else {}
    if as_json:
        print_json({"servers": stack.describe(found), **shown})
        return
    typer.echo("\n".join(stack.status(found)))
    for topic, partitions in shown.get("topics", {}).items():
        typer.echo(f"topic     {topic}  ({partitions} partitions)")
    if "topics_unknown" in shown:
        typer.echo(f"topics    unknown: {shown['topics_unknown']}")


@app.command(epilog="Example:\n\n\b\n  lead infra up\n  lead infra up --brokers 3")
def up(brokers: Brokers = None, as_json: AsJson = False) -> None:
    """Start what is local and not running, create missing topics and tables; show them."""
    from infra.local import stack
    from infra.local.processes import StartupError
    from services.bootstrap import Container

    found = _settings(brokers)
    try:
        stack.up(found)
    except StartupError as exc:
        raise refused(str(exc)) from None
    Container(found).prepare()
    _report(found, as_json)


@app.command(epilog="Example:\n\n\b\n  lead infra down")
def down(brokers: Brokers = None, as_json: AsJson = False) -> None:
    """Stop the local Kafka node(s) and PostgreSQL (data is kept)."""
    from infra.local import stack

    found = _settings(brokers)
    stack.down(found)
    _report(found, as_json, topics=False)


@app.command(epilog="Example:\n\n\b\n  lead infra status\n  lead infra status --json")
def status(brokers: Brokers = None, as_json: AsJson = False) -> None:
    """What runs where, and the topics (with their partitions)."""
    _report(_settings(brokers, quick=True), as_json)


def register(root: typer.Typer) -> None:
    root.add_typer(app)
