"""`lead run`: everything in the foreground, under the supervisor."""

from __future__ import annotations

from typing import Annotated

import typer

from services.entrypoints.cli.shared import settings


def run(
    demo: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="On an empty store, seed a synthetic site of N participants first.",
        ),
    ] = 0,
    demo_months: Annotated[int, typer.Option(min=1, help="Months of the demo's history.")] = 12,
) -> None:
    """Start PostgreSQL, Kafka, the API, the relay and the consumers in the foreground
    (what `make run` does); Ctrl-C stops them."""
    from services.entrypoints.supervisor import run as supervise

    raise typer.Exit(supervise(settings(quick=False), demo=(demo, demo_months) if demo else None))


def register(root: typer.Typer) -> None:
    root.command(epilog="Example:\n\n\b\n  lead run\n  lead run --demo 200")(run)
