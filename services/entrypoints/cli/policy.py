"""`lead policy`: adopt the site policy from a file, or show it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.entrypoints.cli.shared import AsJson, bad_usage, container, print_json

app = typer.Typer(
    name="policy",
    help="Adopt the site policy from a YAML/JSON file, or show every version.",
    no_args_is_help=True,
)


@app.command(
    epilog="Example:\n\n\b\n"
    "  lead policy adopt infra/policy/example-policy.yaml --principal pcg.chair"
)
def adopt(
    file: Annotated[Path, typer.Argument(help="The policy file (YAML or JSON).")],
    principal: Annotated[str, typer.Option(help="Who adopts it (recorded).")] = "pcg",
    organisation: Annotated[str, typer.Option(help="Their organisation.")] = "LEAD PCG",
) -> None:
    """Adopt a new version of the site policy (effective from the date it names)."""
    from events.base import Actor, Role
    from services.commands import AdoptPolicy
    from services.policy_file import PolicyFileError, load_policy

    try:
        terms = load_policy(file)
    except (PolicyFileError, OSError) as exc:
        raise bad_usage(str(exc)) from None
    actor = Actor(principal=principal, role=Role.ADMINISTRATOR, organisation=organisation)
    receipt = container().application.adopt_policy(AdoptPolicy(terms=terms), actor)
    typer.echo(f"adopted policy version {receipt.version}, effective {terms.effective_from}")


@app.command(epilog="Example:\n\n\b\n  lead policy show\n  lead policy show --json")
def show(as_json: AsJson = False) -> None:
    """Every adopted version, oldest first (YAML, or JSON with --json)."""
    import yaml

    versions = container().application.get_policy().versions
    if as_json:
        print_json(
            [
                {
                    "version": v,
                    "effective_from": t.effective_from,
                    "terms": t.model_dump(mode="json"),
                }
                for v, t in versions
            ]
        )
        return
    for version, terms in versions:
        typer.echo(f"--- version {version}, effective {terms.effective_from}")
        typer.echo(yaml.safe_dump(terms.model_dump(mode="json"), sort_keys=False), nl=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app)
