"""`lead projections`: the read side's positions and lag, or a rebuild."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from services.entrypoints.cli.shared import AsJson, bad_usage, container, print_json

app = typer.Typer(
    name="projections",
    help="Show the read side's positions and lag, or rebuild projections from offset 0.",
    no_args_is_help=True,
)


def aware_time(value: str, option: str) -> datetime:
    """An ISO 8601 time with its zone, or a usage error naming the option."""
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-03-01T00:00:00+00:00",
            param_hint=option,
        ) from None
    if found.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} needs a time zone, e.g. 2026-03-01T00:00:00+00:00", param_hint=option
        )
    return found


@app.command(epilog="Example:\n\n\b\n  lead projections status\n  lead projections status --json")
def status(as_json: AsJson = False) -> None:
    """Each projection's lag (messages behind the topic's end), partitions, last update;
    the last consumer error; partitions a worker is stuck on."""
    from infra.readside.status import projection_status, read_side_stuck

    built = container()
    found = built.settings
    statuses = projection_status(found.dsn, found.bootstrap_servers, built.projections)
    stuck = read_side_stuck(found.dsn)
    if as_json:
        print_json(
            {
                "projections": [
                    {
                        "name": st.name,
                        "lag": st.lag,
                        "partitions": len(st.applied),
                        "updated_at": st.updated_at,
                    }
                    for st in statuses
                ],
                "last_error": statuses[-1].last_error if statuses else None,
                "stuck": [str(partition) for partition in stuck],
            }
        )
        return
    for st in statuses:
        when = f"{st.updated_at:%Y-%m-%d %H:%M:%S}" if st.updated_at else "never"
        typer.echo(f"{st.name:12} lag {st.lag:>8}  partitions {len(st.applied)}  updated {when}")
    if statuses:
        typer.echo(f"last error: {statuses[-1].last_error or 'none'}")
    for partition in stuck:
        typer.echo(f"stuck: {partition}")
    if not stuck:
        typer.echo("stuck: none")


@app.command(
    epilog="Example:\n\n\b\n  lead projections rebuild referrals queue"
    "\n  lead projections rebuild liaison --as-of 2026-03-01T00:00:00+00:00"
)
def rebuild(
    names: Annotated[
        list[str] | None, typer.Argument(help="Which projections (default: all).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Build the view as it stood at this time, into a separate schema (ISO time "
            "with zone).",
        ),
    ] = None,
) -> None:
    """Replay the topic from offset 0 into fresh schemas (one pass for every projection
    named) and swap them in atomically."""
    from services.entrypoints.progress import Progress

    when = aware_time(as_of, "--as-of") if as_of else None
    built = container()
    known = {p.name: p for p in built.projections}
    chosen = names or list(known)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise bad_usage(f"unknown projection {', '.join(unknown)}; known: {', '.join(known)}")
    result = built.rebuilder(
        *(known[name] for name in chosen), as_of=when, progress=Progress("rebuilding")
    ).run()
    typer.echo(
        f"{result.messages} messages in {result.seconds:.1f}s, {result.applied} applied, "
        f"{result.skipped} unreadable, {result.after_as_of} after --as-of"
    )
    for name in chosen:
        typer.echo(f"{name}: now in schema {result.schemas[name]}")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
