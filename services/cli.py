"""The `lead` command line: operators' entrypoint. Each command hands off to the root."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from events.base import Actor, Role


def cmd_infra(args: argparse.Namespace) -> int:
    from infra import stack
    from infra.bootstrap import Container
    from infra.kafka_cluster import LocalKafkaCluster
    from infra.processes import StartupError
    from infra.settings import Settings

    settings = Settings() if args.brokers is None else Settings(kafka_brokers=args.brokers)
    if args.action == "up":
        try:
            stack.up(settings)
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        Container(settings).prepare()
        print("\n".join(stack.status(settings)))
    elif args.action == "down":
        stack.down(settings)
        print("\n".join(stack.status(settings)))
    else:
        print("\n".join(stack.status(settings)))
    kafka_up = not settings.local_kafka or any(
        node.running() for node in LocalKafkaCluster.as_formatted(settings).nodes
    )
    if args.action != "down" and kafka_up:
        from infra.kafka_admin import describe_topics

        try:
            for topic, partitions in sorted(describe_topics(settings).items()):
                print(f"topic     {topic}  ({partitions} partitions)")
        except Exception as exc:  # status must still print when Kafka is unreachable
            print(f"topics    unknown: {exc}")
    return 0


def _stop_event(stop_within: float, what: str) -> threading.Event:
    """Set by SIGINT or SIGTERM, which also start the `stop_within` seconds the process
    has to stop cleanly before it exits anyway (a crash, which it is built to survive)."""
    from infra.processes import exit_unless_stopped_within

    stop = threading.Event()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            exit_unless_stopped_within(stop_within, what)
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def _freeze_heap() -> None:
    """What a long-running process built at start-up lives as long as it does: moved out
    of the collector's sight, so a full collection walks only what came after (in the
    worker, full collections over the start-up heap paused it for 50-130 ms)."""
    gc.collect()
    gc.freeze()


def cmd_relay(args: argparse.Namespace) -> int:
    from infra.bootstrap import Container

    container = Container()  # keeps the application (and its connection pool) alive
    relay = container.relay()
    stop = _stop_event(container.settings.stop_within, "the relay")
    notary = threading.Thread(target=container.notary().run, args=(stop,), daemon=True)
    notary.start()
    _freeze_heap()
    try:
        relay.run(stop)
    finally:
        stop.set()
        notary.join(timeout=10)
        relay.producer.close(timeout=10)
    return 0


def cmd_consumers(args: argparse.Namespace) -> int:
    from consumers.worker import Worker
    from infra.bootstrap import Container

    container = Container()
    app = container.consumer_app()
    stop_within = container.settings.stop_within
    worker = Worker(app, stop_within=stop_within, loglevel=args.loglevel, quiet=True)
    _freeze_heap()
    worker.execute_from_commandline()
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from infra.bootstrap import Container
    from infra.settings import Settings

    settings = Settings()
    api = Container(settings).api()
    _freeze_heap()
    uvicorn.run(
        api,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level="info",
    )
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from consumers.asyncapi import check_asyncapi, write_asyncapi
    from events.catalog import check_docs, write_docs
    from infra.settings import PROJECT_ROOT
    from services import access

    matrix = PROJECT_ROOT / "docs" / "access.md"
    if args.check:
        stale = check_docs(PROJECT_ROOT) + check_asyncapi(PROJECT_ROOT)
        if not matrix.exists() or matrix.read_text() != access.markdown():
            stale.append("docs/access.md")
        for name in stale:
            print(f"out of date: {name}")
        return 1 if stale else 0
    matrix.write_text(access.markdown())
    for written in [*write_docs(PROJECT_ROOT), write_asyncapi(PROJECT_ROOT), matrix]:
        print(f"wrote {written.relative_to(PROJECT_ROOT)}")
    return 0


def operator(args: argparse.Namespace) -> Actor:
    return Actor(principal=args.principal, role=Role.ADMINISTRATOR, organisation=args.organisation)


def cmd_policy(args: argparse.Namespace) -> int:
    from infra.bootstrap import Container
    from services.commands import AdoptPolicy
    from services.policy_file import PolicyFileError, load_policy

    container = Container()
    app = container.application
    if args.action == "adopt":
        if not args.file:
            print(
                "error: `lead policy adopt` needs the policy file (YAML or JSON)", file=sys.stderr
            )
            return 2
        try:
            terms = load_policy(Path(args.file))
        except (PolicyFileError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        receipt = app.adopt_policy(AdoptPolicy(terms=terms), operator(args))
        print(f"adopted policy version {receipt.version}, effective {terms.effective_from}")
        return 0
    for version, terms in app.get_policy().versions:
        print(f"--- version {version}, effective {terms.effective_from}")
        print(yaml.safe_dump(terms.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.bootstrap import Container
    from services.demo import seed_site
    from services.progress import Progress

    container = Container()
    report = seed_site(
        container.application,
        participants=args.participants,
        months=args.months,
        seed=args.seed,
        progress=Progress(f"seeding {args.participants} participants"),
    )
    for name, value in vars(report).items():
        print(f"{name:12} {value}")
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    from infra.bootstrap import Container

    container = Container()
    settings = container.settings
    if args.action == "status":
        from infra.read_side import projection_status, read_side_stuck

        statuses = projection_status(
            settings.dsn, settings.bootstrap_servers, container.projections
        )
        for st in statuses:
            when = f"{st.updated_at:%Y-%m-%d %H:%M:%S}" if st.updated_at else "never"
            print(f"{st.name:12} lag {st.lag:>8}  partitions {len(st.applied)}  updated {when}")
        if statuses:
            print(f"last error: {statuses[-1].last_error or 'none'}")
        stuck = read_side_stuck(settings.dsn)
        for partition in stuck:
            print(f"stuck: {partition}")
        if not stuck:
            print("stuck: none")
        return 0
    from datetime import datetime

    from services.progress import Progress

    names = args.names or [p.name for p in container.projections]
    known = {p.name: p for p in container.projections}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(
            f"error: unknown projection {', '.join(unknown)}; known: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    if as_of is not None and as_of.tzinfo is None:
        print("error: --as-of needs a time zone, e.g. 2026-03-01T00:00:00+00:00", file=sys.stderr)
        return 2
    # One pass over the topic builds every projection asked for.
    result = container.rebuilder(
        *(known[name] for name in names), as_of=as_of, progress=Progress("rebuilding")
    ).run()
    print(
        f"{result.messages} messages in {result.seconds:.1f}s, {result.applied} applied, "
        f"{result.skipped} unreadable, {result.after_as_of} after --as-of"
    )
    for name in names:
        print(f"{name}: now in schema {result.schemas[name]}")
    return 0


def cmd_deadletter(args: argparse.Namespace) -> int:
    from infra.deadletters import list_dead_letters, replay
    from infra.settings import Settings

    settings = Settings()
    letters = list_dead_letters(settings.bootstrap_servers)
    if args.action == "list":
        for letter in letters:
            r = letter.record
            print(
                f"{letter.partition}:{letter.offset}  from {r.get('topic')}"
                f"[{r.get('partition')}]@{r.get('offset')}  {r.get('error')}"
            )
        print(f"{len(letters)} dead letters")
        return 0
    chosen = [
        x for x in letters if args.offset is None or f"{x.partition}:{x.offset}" == args.offset
    ]
    print(f"replayed {replay(settings.bootstrap_servers, chosen)} messages")
    return 0


def cmd_principals(args: argparse.Namespace) -> int:
    import getpass

    from infra.bootstrap import Container
    from services.errors import DomainError, NotFoundError
    from services.principals import Principals

    principals = Principals(Container().application)
    admin = Actor(
        principal=f"cli:{getpass.getuser()}",
        role=Role.ADMINISTRATOR,
        organisation=args.operator_org,
    )
    try:
        if args.action == "list":
            for v in principals.list():
                state = (
                    f"revoked {v.revoked_at:%Y-%m-%d} ({v.revoked_reason})"
                    if v.revoked_at
                    else "active"
                )
                print(f"{v.name:30} {v.role.value:20} {v.organisation:30} {state}")
            return 0
        if not args.name:
            print(
                f"error: `lead principals {args.action}` needs the principal's NAME",
                file=sys.stderr,
            )
            return 2
        if args.action == "add":
            if not args.role or not args.org:
                print(
                    "error: --role and --org are required; roles: "
                    + ", ".join(r.value for r in Role if r is not Role.SYSTEM),
                    file=sys.stderr,
                )
                return 2
            issued = principals.add(
                actor=admin, name=args.name, role=Role(args.role), organisation=args.org
            )
        elif args.action == "rotate":
            issued = principals.rotate(actor=admin, name=args.name)
        else:
            principals.revoke(actor=admin, name=args.name, reason=args.reason)
            print(f"revoked {args.name}: its token stops working now")
            return 0
    except (DomainError, NotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"token for {issued.name} (shown once, keep it secret):", file=sys.stderr)
    print(issued.token)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from infra.bootstrap import Container
    from infra.chain import Checkpoint, load_public_key, public_key_pem, verify_slice
    from infra.history import CHECKPOINT_TYPE, export_slice, topic_sequence, verify_topic_copy
    from services.progress import Progress

    container = Container()
    if args.action == "verify-slice":
        if not args.file or not args.public_key:
            print("error: verify-slice needs FILE and --public-key PEM", file=sys.stderr)
            return 2
        finding = verify_slice(Path(args.file), load_public_key(Path(args.public_key).read_bytes()))
        if finding is None:
            print(f"{args.file}: intact (chain and checkpoint signature verified)")
            return 0
        print(f"{args.file}: {finding.kind} at position {finding.position}: {finding.detail}")
        return 1
    if args.action == "trail":
        return audit_trail(container, args)
    if args.action == "replay":
        return audit_replay(container, args)
    history = container.history()
    if args.action == "public-key":
        print(public_key_pem(history.key).decode(), end="")  # type: ignore[arg-type]
        return 0
    if args.action == "checkpoint":
        checkpoint = history.checkpoint()
        container.audit_recorder()([history.as_record(checkpoint, container.source)])
        print(f"checkpoint at position {checkpoint.position}: {checkpoint.hash.hex()} (signed)")
        return 0
    if args.action == "export":
        if not args.file:
            print("error: export needs the FILE to write", file=sys.stderr)
            return 2
        count, checkpoint = export_slice(history, Path(args.file), args.start or 1, args.end)
        print(f"wrote {count} events to {args.file}, signed at position {checkpoint.position}")
        return 0
    # verify: the store's chain, the topic's copy, the checkpoints
    from infra.topic_reader import read_topic

    total = container.application.recorder.max_notification_id() or 0
    bar = Progress("verifying the chain")
    store_finding, checked = history.verify_store(
        args.start or 0,
        args.end,
        progress=lambda p: bar(p, total) if p % 1000 == 0 or p == total else None,
    )
    print(f"store     {checked} events checked: " + describe(store_finding))
    failed = store_finding is not None
    if not args.no_topic:
        settings = container.settings
        messages = (
            (m.partition, m.offset, m.value)
            for m in read_topic(settings.bootstrap_servers, args.topic)
        )
        per_partition, count = topic_sequence(messages)
        store = history.store_digests(args.start or 0, args.end)
        if args.start or args.end:
            per_partition = {
                p: [(pos, d) for pos, d in pairs if pos in store]
                for p, pairs in per_partition.items()
            }
        topic_finding = verify_topic_copy(per_partition, store)
        print(f"topic     {count} messages on {args.topic} checked: " + describe(topic_finding))
        failed = failed or topic_finding is not None
        published = [
            Checkpoint.from_json(json.loads(m.value)["data"])
            for m in read_topic(settings.bootstrap_servers, "lead.audit.v1")
            if b'"' + CHECKPOINT_TYPE.encode() + b'"' in m.value
        ]
    else:
        published = []
    checkpoint_finding, n = history.verify_checkpoints(published, history.public_key)
    print(f"checkpoints {n} checked (signatures and hashes): " + describe(checkpoint_finding))
    failed = failed or checkpoint_finding is not None
    return 1 if failed else 0


def cmd_privacy(args: argparse.Namespace) -> int:
    import getpass
    from datetime import date
    from uuid import UUID

    import psycopg

    from events.privacy import ErasureGround
    from infra.bootstrap import Container
    from services.privacy import Privacy

    container = Container()
    privacy = Privacy(container.application, container.keys)
    actor = Actor(
        principal=f"cli:{getpass.getuser()}",
        role=Role.ADMINISTRATOR,
        organisation=args.operator_org,
    )
    if args.action == "forget":
        if not args.person or not args.reason:
            print("error: forget needs --person ID and --reason TEXT", file=sys.stderr)
            return 2
        try:
            person = UUID(args.person)
        except ValueError:
            print(f"error: --person: {args.person!r} is not a person id (a UUID)", file=sys.stderr)
            return 2
        done = privacy.forget(person, actor=actor, reason=args.reason, ground=ErasureGround.REQUEST)
        what = "recorded and key destroyed" if done.recorded else "was recorded; key destroyed"
        print(f"forgot {person}: {what}; views drop their data as the consumers catch up")
        return 0
    days = container.settings.retention_days_after_exit
    if days is None:
        print("no retention period set (LEAD_RETENTION_DAYS_AFTER_EXIT): nothing to do")
        return 0
    with psycopg.connect(container.settings.dsn) as conn:
        people = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT person_id FROM proj_caseloads.participants WHERE status = 'exited'"
            ).fetchall()
        ]
    due = privacy.due_for_retention(people, days=days, today=date.today())
    for person in due:
        privacy.forget(
            person,
            actor=actor,
            reason=f"retention: {days} days after exit",
            ground=ErasureGround.RETENTION,
        )
    print(f"forgot {len(due)} people exited more than {days} days ago")
    return 0


def audit_trail(container: Any, args: argparse.Namespace) -> int:
    """A person's history with its actors, and every disclosure about them."""
    from uuid import UUID

    import psycopg
    from psycopg.rows import dict_row

    from projections.audit import trail

    if not args.person:
        print("error: trail needs --person ID", file=sys.stderr)
        return 2
    with psycopg.connect(container.settings.dsn, row_factory=dict_row) as conn:
        found = trail(conn, person_id=UUID(args.person), limit=100_000)
    for e in found["events"]:
        print(
            f"{e['recorded_at']:%Y-%m-%d %H:%M:%S} #{e['position']:<8} {e['event_type']:48} "
            f"{e['actor_principal']} ({e['actor_role']}, {e['actor_organisation']})"
            + (f" - {e['reason']}" if e["reason"] else "")
        )
    for d in found["disclosures"]:
        print(
            f"{d['decided_at']:%Y-%m-%d %H:%M:%S} {d['outcome']:9} "
            f"{d['information_kind'] or '':16} "
            f"to {d['recipient_principal'] or d['recipient_organisation']} "
            f"({d['recipient_role']}) via {d['channel']}"
            + (f" under consent {d['consent_id']}" if d["consent_id"] else f" - {d['reason']}")
        )
    print(f"{len(found['events'])} events, {len(found['disclosures'])} disclosures")
    return 0


def audit_replay(container: Any, args: argparse.Namespace) -> int:
    """Every view as it stood at a time, beside the live ones; and what the liaison
    prosecutor's view showed then, under which consents."""
    from datetime import datetime
    from uuid import UUID

    import psycopg
    from psycopg.rows import dict_row

    from services.reads import liaison_case_view

    if not args.as_of:
        print("error: replay needs --as-of TIME (ISO 8601 with a zone)", file=sys.stderr)
        return 2
    as_of = datetime.fromisoformat(args.as_of)
    if as_of.tzinfo is None:
        print("error: --as-of: give a time zone, e.g. 2026-06-01T00:00:00+00:00", file=sys.stderr)
        return 2
    chosen = [p for p in container.projections if not args.only or p.name in args.only]
    if "liaison" not in {p.name for p in chosen}:
        print("error: --only must include liaison (the view this report shows)", file=sys.stderr)
        return 2
    schemas = container.rebuilder(*chosen, as_of=as_of).run().schemas
    for name, schema in schemas.items():
        print(f"{name:12} as of {as_of.isoformat()} in schema {schema}")
    liaison_role = Actor(
        principal="audit-replay",
        role=Role.LIAISON_PROSECUTOR,
        organisation=container.settings.prosecutor_organisation,
    )
    person = UUID(args.person) if args.person else None
    with psycopg.connect(container.settings.dsn, row_factory=dict_row) as conn:
        view = liaison_case_view(
            container.application, conn, liaison_role, person, at=as_of, schema=schemas["liaison"]
        )
    print(f"the liaison prosecutor's view then: {len(view)} people")
    for entry in view:
        cases = ", ".join(c["case_number"] for c in entry.get("cases", []))
        print(f"  {entry['person_id']} under consent {entry['consent_id']}: cases {cases}")
    if args.since:
        since = datetime.fromisoformat(args.since)
        if since.tzinfo is None:
            print("error: --since: give a time zone", file=sys.stderr)
            return 2
        print(f"what changed from {since.isoformat()} to {as_of.isoformat()}:")
        with psycopg.connect(container.settings.dsn, row_factory=dict_row) as conn:
            changes = conn.execute(
                "SELECT event_type, count(*) AS n, count(DISTINCT person_id) AS people "
                "FROM proj_audit.events WHERE occurred_at >= %s AND occurred_at < %s "
                "AND (%s::uuid IS NULL OR person_id = %s::uuid) "
                "GROUP BY event_type ORDER BY event_type",
                (since, as_of, person, person),
            ).fetchall()
        for row in changes:
            print(f"  {row['event_type']:52} {row['n']:6} events, {row['people']:5} people")
    return 0


def describe(finding: Any) -> str:
    if finding is None:
        return "intact"
    return f"{finding.kind.upper()} at position {finding.position}: {finding.detail}"


def cmd_bench(args: argparse.Namespace) -> int:
    from infra import bench, stack
    from infra.bootstrap import Container
    from infra.settings import PROJECT_ROOT, Settings

    names = args.names or list(bench.NAMES)
    unknown = [n for n in names if n not in bench.NAMES]
    if unknown:
        print(f"error: no benchmark {unknown}; known: {list(bench.NAMES)}", file=sys.stderr)
        return 2
    settings = Settings()
    state = stack.up(settings)
    try:
        container = Container(settings)
        container.prepare()
        from infra.supervisor import adopt_example_policy

        adopt_example_policy(Container(settings))
        out = None if args.no_write else PROJECT_ROOT / "bench" / "results.json"
        summaries = bench.run(
            container, names, events=args.events, rounds=args.rounds, out=out, history=args.history
        )
        print(bench.table(summaries))
        if out is not None:
            print(f"wrote {out.relative_to(PROJECT_ROOT)}")
    finally:
        stack.down(settings, state)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from infra.settings import Settings
    from infra.supervisor import run

    demo = (args.demo, args.demo_months) if args.demo else None
    return run(Settings(), demo=demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lead", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    infra = add("infra", cmd_infra, "start, stop or show the local Kafka and PostgreSQL")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument(
        "--brokers",
        type=int,
        choices=range(1, 6),
        metavar="N",
        help="local Kafka nodes (1-5; sets LEAD_KAFKA_BROKERS for this call); 3 or more "
        "replicate topics 3 ways with min.insync.replicas 2",
    )
    add("relay", cmd_relay, "publish stored events to Kafka (the outbox relay)")
    consumers = add("consumers", cmd_consumers, "run the faust workers that feed the projections")
    consumers.add_argument(
        "--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"]
    )
    api = add("api", cmd_api, "serve the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    policy = add("policy", cmd_policy, "adopt the site policy from a YAML/JSON file, or show it")
    policy.add_argument("action", choices=["adopt", "show"])
    policy.add_argument("file", nargs="?", help="with adopt: the policy file")
    policy.add_argument("--principal", default="pcg", help="who adopts it (recorded)")
    policy.add_argument("--organisation", default="LEAD PCG")
    docs = add(
        "docs", cmd_docs, "write the event catalog, JSON Schemas and AsyncAPI document under docs/"
    )
    docs.add_argument("--check", action="store_true", help="only report files that are stale")
    proj = add(
        "projections",
        cmd_projections,
        "show the read side's positions and lag, or rebuild projections from offset 0",
    )
    proj.add_argument("action", choices=["status", "rebuild"])
    proj.add_argument("names", nargs="*", help="with rebuild: which (default: all)")
    proj.add_argument(
        "--as-of",
        help="build the view as it stood at this time, into a separate schema (ISO time with zone)",
    )
    dead = add("deadletter", cmd_deadletter, "list dead-lettered messages, or replay them")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("--offset", help="with replay: only this one (PARTITION:OFFSET)")
    demo = add("demo", cmd_demo, "seed a synthetic site through the same commands (demo data)")
    demo.add_argument("action", choices=["seed"])
    demo.add_argument("--participants", type=int, default=50)
    demo.add_argument("--months", type=int, default=12)
    demo.add_argument("--seed", type=int, default=0, help="the same seed gives the same site")
    princ = add(
        "principals",
        cmd_principals,
        "add, list, rotate or revoke who may use the API (a token is printed once)",
    )
    princ.add_argument("action", choices=["add", "list", "rotate", "revoke"])
    princ.add_argument("name", nargs="?", help="the principal's name, e.g. officer.reyes")
    princ.add_argument(
        "--role", choices=[r.value for r in Role if r is not Role.SYSTEM], help="with add"
    )
    princ.add_argument("--org", help="with add: their organisation")
    princ.add_argument("--reason", default="revoked by an administrator", help="with revoke")
    princ.add_argument("--operator-org", default="LEAD", help="your organisation (recorded)")
    audit = add(
        "audit",
        cmd_audit,
        "verify the tamper-evident history (store, topic, signed checkpoints), sign a "
        "checkpoint, export a slice for offline checking, or check one",
    )
    audit.add_argument(
        "action",
        choices=["verify", "checkpoint", "export", "verify-slice", "public-key", "trail", "replay"],
    )
    audit.add_argument("--person", help="trail / replay: one person")
    audit.add_argument("--as-of", help="replay: the time to rebuild the views as of")
    audit.add_argument("--since", help="replay: also report what changed from this time")
    audit.add_argument(
        "--only", action="append", help="replay: rebuild only this view (repeatable)"
    )
    audit.add_argument("file", nargs="?", help="with export / verify-slice: the slice file")
    audit.add_argument("--from", dest="start", type=int, help="first position")
    audit.add_argument("--to", dest="end", type=int, help="last position")
    audit.add_argument("--no-topic", action="store_true", help="verify: only the store")
    audit.add_argument("--topic", default="lead.events.v1", help="verify: the topic copy to check")
    audit.add_argument("--public-key", help="verify-slice: the site's public key (PEM)")
    priv = add(
        "privacy",
        cmd_privacy,
        "forget a person (destroy their key; views drop their data), or apply the retention rule",
    )
    priv.add_argument("action", choices=["forget", "retain"])
    priv.add_argument("--person", help="with forget: the person id")
    priv.add_argument("--reason", help="with forget: why (recorded)")
    priv.add_argument("--operator-org", default="LEAD", help="your organisation (recorded)")
    bench = add(
        "bench",
        cmd_bench,
        "measure the backend against raw PostgreSQL and Kafka baselines "
        "(writes bench/results.json)",
    )
    bench.add_argument("names", nargs="*", help="which (default: all)")
    bench.add_argument("--events", type=int, default=20_000, help="events per round")
    bench.add_argument("--rounds", type=int, default=3)
    bench.add_argument(
        "--history",
        type=int,
        default=1_000_000,
        help="events of history for rebuild and scale (a copied demo site)",
    )
    bench.add_argument("--no-write", action="store_true", help="do not write bench/results.json")
    run = add("run", cmd_run, "start everything in the foreground (what `make run` does)")
    run.add_argument(
        "--demo",
        type=int,
        default=0,
        metavar="N",
        help="on an empty store, seed a synthetic site of N participants first",
    )
    run.add_argument("--demo-months", type=int, default=12)
    return parser


KAFKA_COMPONENTS = {"cmd_relay": "relay", "cmd_consumers": "workers", "cmd_api": "api"}


def _connect_as(args: argparse.Namespace) -> None:
    """Each process connects to Kafka with its own component's credential; the operator's
    tools (and `lead run`, which prepares the stack) as the admin."""
    from infra import kafka_security
    from infra.settings import Settings

    component = KAFKA_COMPONENTS.get(getattr(args.func, "__name__", ""), "admin")
    if getattr(args.func, "__name__", "") == "cmd_deadletter" and args.action == "replay":
        component = "replay"
    kafka_security.use(Settings(), component)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("kafka", "aiokafka", "faust", "mode", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    _connect_as(args)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
