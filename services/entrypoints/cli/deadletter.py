"""`lead deadletter`: list the dead-lettered messages, or replay them."""

from __future__ import annotations

from typing import Annotated

import typer

from services.entrypoints.cli.shared import AsJson, bad_usage, print_json, settings

app = typer.Typer(
    name="deadletter",
    help="List dead-lettered messages (what could not be processed, and why), or replay them.",
    no_args_is_help=True,
)


@app.command("list", epilog="Example:\n\n\b\n  lead deadletter list\n  lead deadletter list --json")
def list_(as_json: AsJson = False) -> None:
    """Every message on lead.deadletter.v1: where it came from and the error."""
    from infra.kafka.deadletters import list_dead_letters

    letters = list_dead_letters(settings().bootstrap_servers)
    if as_json:
        print_json(
            [
                {
                    "at": f"{x.partition}:{x.offset}",
                    "topic": x.record.get("topic"),
                    "partition": x.record.get("partition"),
                    "offset": x.record.get("offset"),
                    "error": x.record.get("error"),
                }
                for x in letters
            ]
        )
        return
    for letter in letters:
        r = letter.record
        typer.echo(
            f"{letter.partition}:{letter.offset}  from {r.get('topic')}"
            f"[{r.get('partition')}]@{r.get('offset')}  {r.get('error')}"
        )
    typer.echo(f"{len(letters)} dead letters")


@app.command(epilog="Example:\n\n\b\n  lead deadletter replay --offset 0:12")
def replay(
    offset: Annotated[
        str | None,
        typer.Option(help="Only this one (PARTITION:OFFSET, as `lead deadletter list` shows)."),
    ] = None,
) -> None:
    """Send dead-lettered messages back to their topic to be tried again."""
    from infra.kafka.deadletters import REPLAYABLE, list_dead_letters, replayable
    from infra.kafka.deadletters import replay as send_back

    found = settings(component="replay")
    letters = list_dead_letters(found.bootstrap_servers)
    chosen = [x for x in letters if offset is None or f"{x.partition}:{x.offset}" == offset]
    if offset is not None and not chosen:
        raise bad_usage(f"no dead letter at --offset {offset}; `lead deadletter list` shows them")
    left = [x for x in chosen if not replayable(x)]
    typer.echo(f"replayed {send_back(found.bootstrap_servers, chosen)} messages")
    if left:
        typer.echo(
            f"left {len(left)} that name no topic a replay sends to ({', '.join(REPLAYABLE)}) "
            "or carry no message",
            err=True,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app)
