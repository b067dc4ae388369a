"""Whether a store holds history the demo and the benchmarks did not make.

`lead demo seed` and `lead bench` write synthetic referrals, people and cases through the
real use cases; pointed at a site's store by mistake they would mix them into its record.
They look first: every stored event names its actor in clear, and the synthetic ones are
the demo site's cast (`services/tools/demo/site.py`), the benchmarks' officer and the
backend itself (screening, and a development stack's first start). The first event by
anyone else is history of a real site, or of a person trying the system out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from aggregates.base import SYSTEM_ACTOR
from services.tools.bench.workload import OFFICER as BENCH_OFFICER
from services.tools.demo.site import LIAISON, OFFICERS, PARTNERS, PCG, PM

SYNTHETIC_PRINCIPALS = tuple(
    sorted(
        a.principal for a in (SYSTEM_ACTOR, BENCH_OFFICER, PCG, PM, LIAISON, *OFFICERS, *PARTNERS)
    )
)
CASE_MANAGERS = r"^cm\.[0-9]+$"
"""The demo's case managers, numbered on from those a store already has (`cm.01`, ...)."""


@dataclass(frozen=True)
class ForeignEvent:
    """The first stored event the demo and the benchmarks did not make."""

    position: int
    event_type: str
    principal: str

    def __str__(self) -> str:
        kind = self.event_type.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
        return f"position {self.position}, {kind} by {self.principal}"


def first_foreign_event(conn: Any, events_table: str) -> ForeignEvent | None:
    """The first event in `events_table` (in store order) whose actor is not synthetic;
    None for an empty store or one only the demo, the benchmarks and the backend wrote.
    Stops at the first such event, so a real site's store answers at once."""
    principal = sql.SQL("convert_from(state, 'UTF8')::jsonb #>> '{actor,principal}'")
    row = conn.execute(
        sql.SQL(
            "SELECT notification_id, topic, {p} FROM {table} "
            "WHERE NOT (coalesce({p}, '') = ANY(%s) OR coalesce({p}, '') ~ %s) "
            "ORDER BY notification_id LIMIT 1"
        ).format(p=principal, table=sql.Identifier(events_table)),
        (list(SYNTHETIC_PRINCIPALS), CASE_MANAGERS),
    ).fetchone()
    if row is None:
        return None
    return ForeignEvent(position=row[0], event_type=row[1], principal=row[2] or "(no actor)")
