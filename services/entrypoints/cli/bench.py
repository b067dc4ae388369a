"""`lead bench`: the benchmarks against raw PostgreSQL and Kafka baselines."""

from __future__ import annotations

from typing import Annotated

import typer

from services.entrypoints.cli.shared import IKnow, bad_usage, refuse_unless_synthetic, settings


def bench(
    names: Annotated[list[str] | None, typer.Argument(help="Which (default: all).")] = None,
    events: Annotated[int, typer.Option(min=1, help="Events per round.")] = 20_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of each.")] = 3,
    history: Annotated[
        int,
        typer.Option(min=1, help="Events of history for rebuild and scale (a copied demo site)."),
    ] = 1_000_000,
    no_write: Annotated[
        bool, typer.Option("--no-write", help="Do not write bench/results.json.")
    ] = False,
    i_know: IKnow = False,
) -> None:
    """Measure the backend against raw PostgreSQL and Kafka baselines (writes
    bench/results.json). Starts the local stack if it is not running."""
    from infra.local import stack
    from infra.settings import PROJECT_ROOT
    from services.bootstrap import Container
    from services.tools.bench import measure, runner

    chosen = names or list(runner.NAMES)
    unknown = [n for n in chosen if n not in runner.NAMES]
    if unknown:
        raise bad_usage(f"no benchmark {', '.join(unknown)}; known: {', '.join(runner.NAMES)}")
    found = settings(quick=False)
    state = stack.up(found)
    try:
        built = Container(found)
        built.prepare()
        refuse_unless_synthetic(built, "bench", i_know)
        from services.tools.first_start import adopt_example_policy

        adopt_example_policy(Container(found))
        out = None if no_write else PROJECT_ROOT / "bench" / "results.json"
        summaries = runner.run(
            built, chosen, events=events, rounds=rounds, out=out, history=history
        )
        typer.echo(measure.table(summaries))
        if out is not None:
            typer.echo(f"wrote {out.relative_to(PROJECT_ROOT)}")
    finally:
        stack.down(found, state)


def register(root: typer.Typer) -> None:
    root.command(
        epilog="Refuses (exit 1) a store holding history the demo and the benchmarks did not "
        "make, unless given --i-know-this-is-not-demo-data.\n\nExample:\n\n\b\n"
        "  lead bench append relay --events 6000 --rounds 2 --no-write"
    )(bench)
