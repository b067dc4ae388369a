"""The tables docs/security.md shows that the code generates: PostgreSQL's privileges (from
infra/postgres/roles.py `GRANTS`) and Kafka's ACLs (from infra/kafka/acls.py `grants` and
`client_grants`). The text between each pair of markers is replaced by what the code says
now (`lead docs` writes it, unit tests check it)."""

from __future__ import annotations

from events.access import KafkaClientKind
from infra.kafka.acls import Grant, client_grants, grants
from infra.kafka.security import ADMIN_USER, principal_name
from infra.postgres.roles import APPEND_ONLY, EVENTS, GRANTS, LEAST_PRIVILEGE, PROJECTIONS
from infra.settings import Settings


def with_section(document: str, start: str, end: str, body: str, *, name: str) -> str:
    """`document` with the text between `start` and `end` replaced by `body`."""
    before, found, rest = document.partition(start)
    if not found:
        raise ValueError(f"{name} has no {start} marker")
    _, found, after = rest.partition(end)
    if not found:
        raise ValueError(f"{name} has no {end} marker")
    return f"{before}{start}\n{body}{end}{after}"


def privileges_table() -> str:
    """GRANTS as the Markdown table docs/security.md shows."""
    tables = [EVENTS, "event_chain", "chain_checkpoints", "person_keys", "idempotency_keys"]
    tables += ["relay_positions", "projection_positions", "consumer_errors", "consumer_stuck"]
    tables += [PROJECTIONS]
    label = {
        EVENTS: "`lead_events` (the event store)",
        PROJECTIONS: "every `proj_*` schema's tables",
    }
    roles = list(LEAST_PRIVILEGE)
    lines = [
        "| table | owner (`lead`) | " + " | ".join(f"`{r}`" for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for table in tables:
        name = label.get(table, f"`{table}`")
        owner = "owns it" + (" (append-only trigger)" if table in APPEND_ONLY else "")
        cells = [", ".join(GRANTS[r].get(table, ())) or "—" for r in roles]
        lines.append(f"| {name} | {owner} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


GRANTS_START = "<!-- postgres-grants: generated from infra/postgres/roles.py GRANTS -->"
GRANTS_END = "<!-- /postgres-grants -->"


def with_current_table(document: str) -> str:
    """docs/security.md with the PostgreSQL privileges table as GRANTS has it."""
    return with_section(
        document, GRANTS_START, GRANTS_END, privileges_table(), name="docs/security.md"
    )


def render_table(settings: Settings | None = None) -> str:
    """The Markdown table of what each credential may do: every component's (from
    `grants`) and each kind of external client's (from `client_grants`)."""
    settings = settings or Settings(consumer_group="lead-projections")
    rows = ["| Credential | Resource | Name | Operations |", "|---|---|---|---|"]
    rows.append(f"| `{ADMIN_USER}` | cluster | everything | super user (operator tools) |")

    def add(credential: str, granted: tuple[Grant, ...]) -> None:
        for grant in granted:
            name = f"`{grant.pattern_name}` (prefix)" if grant.prefixed else f"`{grant.name}`"
            rows.append(
                f"| {credential} | {grant.resource} | {name} | {', '.join(grant.operations)} |"
            )

    for component, granted in grants(settings).items():
        add(f"`{principal_name(component)}`", granted)
    for kind in KafkaClientKind:
        add(f"`NAME` ({kind.value} client)", client_grants(kind, "NAME"))
    return "\n".join(rows) + "\n"


ACLS_START = "<!-- kafka-acls: generated from infra/kafka/acls.py -->"
ACLS_END = "<!-- /kafka-acls -->"


def with_current_acls(document: str) -> str:
    """docs/security.md with the Kafka ACL table as the code sets it."""
    return with_section(document, ACLS_START, ACLS_END, render_table(), name="docs/security.md")
