"""`lead demo seed`: a synthetic site, seeded through the same commands."""

from __future__ import annotations

from typing import Annotated

import typer

from services.entrypoints.cli.shared import IKnow, container, refuse_unless_synthetic

app = typer.Typer(
    name="demo",
    help="Seed a synthetic site through the same commands (demo data).",
    no_args_is_help=True,
)


@app.command(
    epilog="Refuses (exit 1) a store holding history the demo and the benchmarks did not "
    "make, unless given --i-know-this-is-not-demo-data.\n\nExample:\n\n\b\n"
    "  lead demo seed --participants 200 --months 12 --seed 7"
)
def seed(
    participants: Annotated[int, typer.Option(min=0, help="People enrolled by the end.")] = 50,
    months: Annotated[int, typer.Option(min=1, help="Months of history, ending today.")] = 12,
    seed: Annotated[int, typer.Option(help="The same seed gives the same site.")] = 0,
    i_know: IKnow = False,
) -> None:
    """Record a synthetic site's referrals, people, contacts, cases and consents."""
    from services.entrypoints.progress import Progress
    from services.tools.demo.steps import seed_site

    built = container()
    refuse_unless_synthetic(built, "demo seed", i_know)
    report = seed_site(
        built.application,
        participants=participants,
        months=months,
        seed=seed,
        progress=Progress(f"seeding {participants} participants"),
    )
    for name, value in vars(report).items():
        typer.echo(f"{name:12} {value}")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
