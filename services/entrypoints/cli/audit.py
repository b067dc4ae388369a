"""`lead audit`: verify the tamper-evident history, sign a checkpoint, export and check a
slice, a person's trail, and the views replayed as of a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from services.entrypoints.cli.projections import aware_time
from services.entrypoints.cli.shared import AsJson, container, print_json

if TYPE_CHECKING:
    from services.bootstrap import Container

app = typer.Typer(
    name="audit",
    help="Verify the tamper-evident history (store, topic, signed checkpoints), sign a "
    "checkpoint, export a slice for offline checking or check one, print a person's "
    "trail, or replay the views as of a time.",
    no_args_is_help=True,
)

Start = Annotated[int | None, typer.Option("--from", min=0, help="First position.")]
End = Annotated[int | None, typer.Option("--to", min=0, help="Last position.")]


def person_id(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a person id (a UUID)", param_hint="--person"
        ) from None


def describe(finding: Any) -> str:
    if finding is None:
        return "intact"
    return f"{finding.kind.upper()} at position {finding.position}: {finding.detail}"


def _finding(finding: Any) -> dict[str, Any] | None:
    if finding is None:
        return None
    return {"kind": finding.kind, "position": finding.position, "detail": finding.detail}


@app.command(
    epilog="Exits 1 if anything was tampered with.\n\nExample:\n\n\b\n  lead audit verify"
    "\n  lead audit verify --no-topic --from 1 --to 5000 --json"
)
def verify(
    start: Start = None,
    end: End = None,
    no_topic: Annotated[bool, typer.Option("--no-topic", help="Only the store.")] = False,
    topic: Annotated[str, typer.Option(help="The topic copy to check.")] = "lead.events.v1",
    as_json: AsJson = False,
) -> None:
    """Check the store's hash chain, the topic's copy of it and the signed checkpoints;
    name the first position tampered with."""
    from infra.audit.chain import Checkpoint
    from infra.audit.history import CHECKPOINT_TYPE, topic_sequence, verify_topic_copy
    from infra.kafka.topic_reader import read_topic
    from services.entrypoints.progress import Progress

    built = container(role="auditor")  # verifying needs only the auditor's database role
    history = built.history()
    total = built.application.recorder.max_notification_id() or 0
    bar = Progress("verifying the chain")
    store_finding, checked = history.verify_store(
        start or 0,
        end,
        progress=lambda p: bar(p, total) if p % 1000 == 0 or p == total else None,
    )
    report: dict[str, Any] = {"store": {"checked": checked, "finding": _finding(store_finding)}}
    if not as_json:
        typer.echo(f"store     {checked} events checked: " + describe(store_finding))
    failed = store_finding is not None
    published = []
    if not no_topic:
        bootstrap = built.settings.bootstrap_servers
        messages = ((m.partition, m.offset, m.value) for m in read_topic(bootstrap, topic))
        per_partition, count = topic_sequence(messages)
        store = history.store_digests(start or 0, end)
        if start or end:
            per_partition = {
                p: [(pos, d) for pos, d in pairs if pos in store]
                for p, pairs in per_partition.items()
            }
        topic_finding = verify_topic_copy(per_partition, store)
        report["topic"] = {"name": topic, "checked": count, "finding": _finding(topic_finding)}
        if not as_json:
            typer.echo(f"topic     {count} messages on {topic} checked: " + describe(topic_finding))
        failed = failed or topic_finding is not None
        published = [
            Checkpoint.from_json(json.loads(m.value)["data"])
            for m in read_topic(bootstrap, "lead.audit.v1")
            if b'"' + CHECKPOINT_TYPE.encode() + b'"' in m.value
        ]
    checkpoint_finding, n = history.verify_checkpoints(published, history.public_key)
    report["checkpoints"] = {"checked": n, "finding": _finding(checkpoint_finding)}
    failed = failed or checkpoint_finding is not None
    if as_json:
        print_json({**report, "intact": not failed})
    else:
        typer.echo(
            f"checkpoints {n} checked (signatures and hashes): " + describe(checkpoint_finding)
        )
    raise typer.Exit(1 if failed else 0)


@app.command(epilog="Example:\n\n\b\n  lead audit checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the chain now and publish it on lead.audit.v1."""
    built = container()
    history = built.history()
    made = history.checkpoint()
    built.audit_recorder()([history.as_record(made, built.source)])
    typer.echo(f"checkpoint at position {made.position}: {made.hash.hex()} (signed)")


@app.command(epilog="Example:\n\n\b\n  lead audit export slice.jsonl --from 1 --to 5000")
def export(
    file: Annotated[Path, typer.Argument(help="The slice file to write.")],
    start: Start = None,
    end: End = None,
) -> None:
    """Write a slice of history with a signed checkpoint, for an auditor to check offline."""
    from infra.audit.history import export_slice

    built = container()  # a checkpoint is appended: the application's role
    count, made = export_slice(built.history(), file, start or 1, end)
    typer.echo(f"wrote {count} events to {file}, signed at position {made.position}")


@app.command(
    "verify-slice",
    epilog="Exits 1 if the slice was tampered with.\n\nExample:\n\n\b\n"
    "  lead audit public-key > site.pem\n"
    "  lead audit verify-slice slice.jsonl --public-key site.pem",
)
def verify_slice(
    file: Annotated[Path, typer.Argument(help="The slice file.")],
    public_key: Annotated[Path, typer.Option("--public-key", help="The site's public key (PEM).")],
    as_json: AsJson = False,
) -> None:
    """Check an exported slice offline: its chain and its checkpoint's signature."""
    from infra.audit.signing_keys import load_public_key
    from infra.audit.slices import verify_slice as check
    from services.entrypoints.cli.shared import bad_usage

    try:
        key = load_public_key(public_key.read_bytes())
    except OSError as exc:
        raise bad_usage(f"--public-key: {exc}") from None
    finding = check(file, key)
    if as_json:
        print_json({"file": str(file), "intact": finding is None, "finding": _finding(finding)})
    elif finding is None:
        typer.echo(f"{file}: intact (chain and checkpoint signature verified)")
    else:
        typer.echo(f"{file}: {finding.kind} at position {finding.position}: {finding.detail}")
    raise typer.Exit(0 if finding is None else 1)


@app.command("public-key", epilog="Example:\n\n\b\n  lead audit public-key > site.pem")
def public_key() -> None:
    """Print the site's public key (PEM), which checks checkpoints and slices."""
    from infra.audit.signing_keys import public_key_pem

    history = container(role="auditor").history()
    typer.echo(public_key_pem(history.key).decode(), nl=False)  # type: ignore[arg-type]


@app.command(epilog="Example:\n\n\b\n  lead audit trail --person PERSON-UUID --json")
def trail(
    person: Annotated[str, typer.Option(help="The person id.")],
    as_json: AsJson = False,
) -> None:
    """A person's history with its actors, and every disclosure about them."""
    import psycopg
    from psycopg.rows import dict_row

    from projections.audit import trail as person_trail

    who = person_id(person)
    built = container(role="auditor")
    with psycopg.connect(built.settings.dsn, row_factory=dict_row) as conn:
        found = person_trail(conn, person_id=who, limit=100_000)
    if as_json:
        print_json(found)
        return
    for e in found["events"]:
        typer.echo(
            f"{e['recorded_at']:%Y-%m-%d %H:%M:%S} #{e['position']:<8} {e['event_type']:48} "
            f"{e['actor_principal']} ({e['actor_role']}, {e['actor_organisation']})"
            + (f" - {e['reason']}" if e["reason"] else "")
        )
    for d in found["disclosures"]:
        typer.echo(
            f"{d['decided_at']:%Y-%m-%d %H:%M:%S} {d['outcome']:9} "
            f"{d['information_kind'] or '':16} "
            f"to {d['recipient_principal'] or d['recipient_organisation']} "
            f"({d['recipient_role']}) via {d['channel']}"
            + (f" under consent {d['consent_id']}" if d["consent_id"] else f" - {d['reason']}")
        )
    typer.echo(f"{len(found['events'])} events, {len(found['disclosures'])} disclosures")


@app.command(
    epilog="Example:\n\n\b\n  lead audit replay --as-of 2026-06-01T00:00:00+00:00 "
    "--since 2026-05-01T00:00:00+00:00"
)
def replay(
    as_of: Annotated[
        str, typer.Option("--as-of", help="The time to rebuild the views as of (ISO, with zone).")
    ],
    person: Annotated[str | None, typer.Option(help="Only this person.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Also report what changed from this time.")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Rebuild only this view (repeatable; must include liaison)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Every view as it stood at a time, beside the live ones; and what the liaison
    prosecutor's view showed then, under which consents."""
    when = aware_time(as_of, "--as-of")
    start = aware_time(since, "--since") if since else None
    who = person_id(person)
    built = container()
    chosen = [p for p in built.projections if not only or p.name in only]
    if "liaison" not in {p.name for p in chosen}:
        raise typer.BadParameter(
            "must include liaison (the view this report shows)", param_hint="--only"
        )
    schemas = built.rebuilder(*chosen, as_of=when).run().schemas
    view = _liaison_then(built, who, when, schemas["liaison"])
    changes = _changes(built, who, start, when) if start else None
    if as_json:
        print_json({"as_of": when, "schemas": schemas, "liaison": view, "changes": changes})
        return
    for name, schema in schemas.items():
        typer.echo(f"{name:12} as of {when.isoformat()} in schema {schema}")
    typer.echo(f"the liaison prosecutor's view then: {len(view)} people")
    for entry in view:
        cases = ", ".join(c["case_number"] for c in entry.get("cases", []))
        typer.echo(f"  {entry['person_id']} under consent {entry['consent_id']}: cases {cases}")
    if start is not None and changes is not None:
        typer.echo(f"what changed from {start.isoformat()} to {when.isoformat()}:")
        for row in changes:
            typer.echo(f"  {row['event_type']:52} {row['n']:6} events, {row['people']:5} people")


def _liaison_then(built: Container, who: UUID | None, when: Any, schema: str) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    from events.base import Actor, Role
    from services.reads import liaison_case_view

    liaison_role = Actor(
        principal="audit-replay",
        role=Role.LIAISON_PROSECUTOR,
        organisation=built.settings.prosecutor_organisation,
    )
    with psycopg.connect(built.settings.dsn, row_factory=dict_row) as conn:
        return liaison_case_view(built.application, conn, liaison_role, who, at=when, schema=schema)


def _changes(built: Container, who: UUID | None, start: Any, when: Any) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(built.settings.dsn, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT event_type, count(*) AS n, count(DISTINCT person_id) AS people "
            "FROM proj_audit.events WHERE occurred_at >= %s AND occurred_at < %s "
            "AND (%s::uuid IS NULL OR person_id = %s::uuid) "
            "GROUP BY event_type ORDER BY event_type",
            (start, when, who, who),
        ).fetchall()


def register(root: typer.Typer) -> None:
    root.add_typer(app)
