"""A seeded site of a few hundred participants: a rebuild from offset 0 gives the live rows."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.readside.status import projection_status
from projections.base import Projection, schema_of
from services.bootstrap import Container
from services.tools.demo.steps import seed_site
from tests.e2e.conftest import Backend
from tests.processes import wait_until

pytestmark = pytest.mark.e2e


def snapshot(dsn: str, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    with psycopg.connect(dsn) as conn:
        for table in projection.tables:
            order = sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
            tables[table.name] = conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                    sql.Identifier(schema_of(projection.name), table.name), order
                )
            ).fetchall()
    return tables


def test_every_projection_rebuilt_from_offset_zero_equals_the_live_one(
    backend: Backend, container: Container
) -> None:
    settings = container.settings
    started = time.monotonic()
    report = seed_site(container.application, participants=200, months=6, seed=21)
    print(f"seeded {report.events} events in {time.monotonic() - started:.0f}s")

    last = container.application.recorder.max_notification_id() or 0

    def caught_up() -> bool:
        # The relay must have published everything first: a projection with no lag
        # behind the topic can still be behind the store.
        with psycopg.connect(settings.dsn) as conn:
            row = conn.execute("SELECT max(position) FROM relay_positions").fetchone()
        if row is None or (row[0] or 0) < last:
            return False
        return all(
            s.lag == 0
            for s in projection_status(
                settings.dsn, settings.bootstrap_servers, container.projections
            )
        )

    wait_until(caught_up, 300, "the live projections to catch up", backend.procs)
    divergences: list[str] = []
    before = {p.name: snapshot(settings.dsn, p) for p in container.projections}
    for name, live in before.items():
        assert any(live.values()), f"{name} has no rows"
    # As `lead projections rebuild` does: one pass over the topic for every view.
    container.rebuilder(*container.projections).run()
    for projection in container.projections:
        live = before[projection.name]
        rebuilt = snapshot(settings.dsn, projection)
        for table, rows in live.items():
            if rebuilt[table] != rows:
                only_live = sorted(set(map(repr, rows)) - set(map(repr, rebuilt[table])))[:3]
                only_rebuilt = sorted(set(map(repr, rebuilt[table])) - set(map(repr, rows)))[:3]
                divergences.append(
                    f"{projection.name}.{table} differs after a rebuild:\n"
                    f"  live only: {only_live}\n  rebuilt only: {only_rebuilt}"
                )
    assert divergences == []
