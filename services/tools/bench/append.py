"""The append benchmark: commands through the application into the event store, against
bare psycopg inserts of the same rows."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from services.tools.bench.measure import Figure, rate
from services.tools.bench.workload import OFFICER, referrals, save


def insert_rows(conn: psycopg.Connection[Any], insert: str, rows: list[Any], per_tx: int) -> None:
    for i in range(0, len(rows), per_tx):
        with conn.transaction():
            conn.cursor().executemany(insert, rows[i : i + per_tx])


def commands(n: int) -> list[Any]:
    """`n` referral commands, as the API would pass them to the application service."""
    from services.commands import ReceiveReferral

    example = ReceiveReferral.model_json_schema()["examples"][1]
    return [
        ReceiveReferral.model_validate(
            {
                **{k: v for k, v in example.items() if k != "occurred_at"},
                "referrer": {"principal": "bench.officer", "organisation": "Bench PD"},
                "person": {"given_name": "Bench", "family_name": f"Person{i}"},
            }
        )
        for i in range(n)
    ]


def _in_threads(work: Callable[[list[Any]], object], items: list[Any], writers: int) -> None:
    """`work` on `writers` threads at once, each given its share of `items`."""
    threads = [threading.Thread(target=work, args=(items[i::writers],)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bench_append(container: Any, events: int, rounds: int) -> list[Figure]:
    """Commands through the application service into the event store, against psycopg
    inserting the same serialized rows into a table of the same shape: one command per
    call, 100 per call (the application's `save` of 100 referrals), and four writers at
    once (what the store's table lock costs: raw inserts run side by side)."""
    app = container.application
    policy = app.policy_in_force(datetime.now(UTC).date())
    n = max(events // 2, 1)  # a referral is two events (received, screened)
    single = Figure("append, one command per call", "events/s", goal=0.5)
    batched = Figure("append, 100 commands per call", "events/s", goal=0.5)
    parallel = Figure("append, 4 writers, one command each", "events/s", goal=0.5)
    # The store alone (its recorder: the table lock, the chain trigger, the notification),
    # given the rows ready made, two per call: what the command path adds is the rest.
    store = Figure("append floor: the store, rows ready made", "events/s")
    scratch = f"bench_rows_{uuid.uuid4().hex[:8]}"

    def receive(batch: list[Any]) -> None:
        for command in batch:
            app.receive_referral(command, OFFICER)

    def stored() -> int:
        return int(app.recorder.max_notification_id() or 0)

    def ready_made() -> list[list[Any]]:
        """`n` referrals as the store's rows, one list per referral."""
        return [
            list(map(app.mapper.to_stored_event, r.collect_events())) for r in referrals(policy, n)
        ]

    def append_each(made: list[list[Any]]) -> None:
        for stored_events in made:
            app.recorder.insert_events(stored_events)

    def counted(work: Callable[[], object]) -> float:
        before = stored()
        started = time.perf_counter()
        work()
        return (stored() - before) / max(time.perf_counter() - started, 1e-9)

    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {scratch} (originator_id uuid NOT NULL, originator_version bigint "
            "NOT NULL, topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        insert = (
            f"INSERT INTO {scratch} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        )

        def raw(rows: list[Any], per_tx: int) -> None:
            with psycopg.connect(container.settings.dsn, autocommit=True) as own:
                insert_rows(own, insert, rows, per_tx)

        try:
            for _ in range(rounds):
                single.backend.append(counted(functools.partial(receive, commands(n))))
                batched.backend.append(
                    counted(functools.partial(save, app, referrals(policy, n), 100))
                )
                parallel.backend.append(
                    counted(functools.partial(_in_threads, receive, commands(n), 4))
                )
                store.backend.append(counted(functools.partial(append_each, ready_made())))
                rows = [
                    (s.originator_id, s.originator_version, s.topic, s.state)
                    for stored_events in ready_made()
                    for s in stored_events
                ]
                for figure, work in (
                    (single, functools.partial(insert_rows, conn, insert, rows, 2)),
                    (batched, functools.partial(insert_rows, conn, insert, rows, 200)),
                    (
                        parallel,
                        functools.partial(_in_threads, functools.partial(raw, per_tx=2), rows, 4),
                    ),
                ):
                    figure.baseline.append(rate(len(rows), work))
                    conn.execute(f"TRUNCATE {scratch}")
                store.baseline.append(single.baseline[-1])
        finally:
            conn.execute(f"DROP TABLE {scratch}")
    return [single, batched, parallel, store]
