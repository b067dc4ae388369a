"""`lead docs`: write the generated contract documents, or report the stale ones."""

from __future__ import annotations

from typing import Annotated

import typer

from services.entrypoints.cli.shared import AsJson, print_json


def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Only report the files that are stale (exit 1 if any).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Write the event catalog, JSON Schemas, AsyncAPI document, access matrix and the
    generated tables of docs/security.md (or check them)."""
    from infra.settings import PROJECT_ROOT
    from services.contracts import documents

    if check:
        stale = documents.stale(PROJECT_ROOT)
        if as_json:
            print_json({"stale": stale})
        for name in [] if as_json else stale:
            typer.echo(f"out of date: {name}")
        raise typer.Exit(1 if stale else 0)
    written = [str(w.relative_to(PROJECT_ROOT)) for w in documents.write(PROJECT_ROOT)]
    if as_json:
        print_json({"wrote": written})
        return
    for name in written:
        typer.echo(f"wrote {name}")


def register(root: typer.Typer) -> None:
    root.command(epilog="Example:\n\n\b\n  lead docs --check")(docs)
